using SmbLayer.Protocol;

namespace SmbLayer.Session;

/// <summary>What was asked for, and granted, to make an open survive a reconnect.</summary>
internal sealed record DurableState(bool IsDurable, bool V2, Guid? CreateGuid, Guid? LeaseKey, LeaseState LeaseState, int LeaseVersion, OplockLevel OplockLevel)
{
    public static DurableState None { get; } = new(false, false, null, null, LeaseState.None, 0, OplockLevel.None);
}

/// <summary>
/// The durability request for one CREATE (MS-SMB2 §3.2.4.3.5). Servers grant durability only
/// with a batch oplock or a lease that includes handle caching (§3.3.5.9.6, §3.3.5.9.10), so a
/// durable open also asks for an RWH lease (2.1 and later) or a batch oplock (2.0.2). The client
/// caches nothing under the lease: it only acknowledges breaks.
/// </summary>
internal sealed class OpenDurability
{
    /// <summary>What <paramref name="asked"/> gives on <paramref name="dialect"/>: <see cref="None"/> for a plain handle.</summary>
    public static OpenDurability For(SmbDialect dialect, HandleDurability asked, TimeSpan? timeout = null) =>
        asked == HandleDurability.Durable ? For(dialect, timeout) : None;

    private const LeaseState CachingLease = LeaseState.ReadCaching | LeaseState.WriteCaching | LeaseState.HandleCaching;

    private OpenDurability(SmbDialect? dialect, Guid? createGuid, Guid? leaseKey, uint timeoutMilliseconds = 0)
    {
        TimeoutMilliseconds = timeoutMilliseconds;
        Dialect = dialect;
        CreateGuid = createGuid;
        LeaseKey = leaseKey;
    }

    public static OpenDurability None { get; } = new(null, null, null);

    public SmbDialect? Dialect { get; }

    /// <summary>The CreateGuid of DH2Q (3.x); a replayed CREATE carries the same one.</summary>
    public Guid? CreateGuid { get; }

    public Guid? LeaseKey { get; }

    /// <summary>The DH2Q Timeout asked for (3.x); 0: the server's default.</summary>
    public uint TimeoutMilliseconds { get; }

    public static OpenDurability For(SmbDialect dialect, TimeSpan? timeout = null) => dialect switch
    {
        >= SmbDialect.Smb300 => new(dialect, Guid.NewGuid(), Guid.NewGuid(), timeout is { } t ? (uint)Math.Ceiling(t.TotalMilliseconds) : 0),
        SmbDialect.Smb210 => new(dialect, null, Guid.NewGuid()),
        _ => new(dialect, null, null),
    };

    /// <summary>The request with the durability contexts added (directories are left as they are).</summary>
    public CreateRequest Apply(CreateRequest request)
    {
        if (Dialect is not { } dialect || (request.CreateOptions & CreateOptions.DirectoryFile) != 0)
        {
            return request;
        }
        var contexts = new List<CreateContext>(request.CreateContexts);
        OplockLevel level;
        if (dialect >= SmbDialect.Smb300)
        {
            contexts.Add(CreateContextCodec.DurableV2Request(CreateGuid!.Value, TimeoutMilliseconds, persistent: false));
            contexts.Add(CreateContextCodec.LeaseV2Request(LeaseKey!.Value, CachingLease));
            level = OplockLevel.Lease;
        }
        else if (dialect == SmbDialect.Smb210)
        {
            contexts.Add(CreateContextCodec.DurableV1Request());
            contexts.Add(CreateContextCodec.LeaseV1Request(LeaseKey!.Value, CachingLease));
            level = OplockLevel.Lease;
        }
        else
        {
            contexts.Add(CreateContextCodec.DurableV1Request());
            level = OplockLevel.Batch;
        }
        return request.With(level, contexts);
    }

    /// <summary>What the server granted, from its CREATE response.</summary>
    public DurableState Granted(CreateResponse response)
    {
        if (Dialect is null)
        {
            return DurableState.None with { OplockLevel = response.OplockLevel };
        }
        var durable = response.DurableV2 is not null || response.DurableV1Granted;
        return new DurableState(durable, response.DurableV2 is not null, CreateGuid, response.Lease?.LeaseKey,
            response.Lease?.LeaseState ?? LeaseState.None, response.Lease?.Version ?? 0, response.OplockLevel);
    }

    /// <summary>The CREATE that reclaims a durable open after a reconnect (MS-SMB2 §3.2.4.4).</summary>
    public static CreateRequest Reconnect(CreateRequest template, Smb2FileId fileId, DurableState state)
    {
        var contexts = new List<CreateContext>();
        contexts.Add(state.V2
            ? CreateContextCodec.DurableV2Reconnect(fileId, state.CreateGuid!.Value, persistent: false)
            : CreateContextCodec.DurableV1Reconnect(fileId));
        if (state.LeaseKey is { } key)
        {
            contexts.Add(state.LeaseVersion >= 2
                ? CreateContextCodec.LeaseV2Request(key, state.LeaseState)
                : CreateContextCodec.LeaseV1Request(key, state.LeaseState));
        }
        return template.With(state.OplockLevel, contexts);
    }
}

/// <summary>Whether an open asks the server for a durable handle, one a reconnect can reclaim.</summary>
internal enum HandleDurability
{
    Plain,
    Durable,
}
