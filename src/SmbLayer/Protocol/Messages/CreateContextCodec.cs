using System.Buffers.Binary;
using System.Text;

namespace SmbLayer.Protocol;

/// <summary>
/// One SMB2_CREATE_CONTEXT (MS-SMB2 §2.2.13.2): a name (usually a 4-character ASCII tag such
/// as "MxAc"; names are bytes, mapped one-to-one onto chars via Latin-1) and its data.
/// </summary>
internal sealed record CreateContext(string Name, byte[] Data)
{
    public const string DurableV2RequestName = "DH2Q";
    public const string DurableV2ReconnectName = "DH2C";
    public const string DurableV1RequestName = "DHnQ";
    public const string DurableV1ReconnectName = "DHnC";
    public const string MaximalAccessName = "MxAc";
    public const string QueryOnDiskIdName = "QFid";
    public const string LeaseName = "RqLs";

    /// <summary>Size of the name in bytes.</summary>
    public int NameLength => Encoding.Latin1.GetByteCount(Name);
}

/// <summary>Durable handle v2 response (DH2Q, MS-SMB2 §2.2.14.2.12).</summary>
internal readonly record struct DurableHandleV2Response(uint TimeoutMilliseconds, DurableHandleFlags Flags);

/// <summary>Maximal access response (MxAc, MS-SMB2 §2.2.14.2.5).</summary>
internal readonly record struct MaximalAccessResponse(NtStatus QueryStatus, AccessMask MaximalAccess);

/// <summary>Query on-disk id response (QFid, MS-SMB2 §2.2.14.2.9).</summary>
internal readonly record struct OnDiskIdResponse(ulong DiskFileId, ulong VolumeId);

/// <summary>Lease granted (RqLs response v1 §2.2.14.2.10 or v2 §2.2.14.2.11).</summary>
internal readonly record struct LeaseResponse(
    int Version, Guid LeaseKey, LeaseState LeaseState, LeaseFlags Flags, Guid ParentLeaseKey, ushort Epoch);

/// <summary>Builders and parsers for the create contexts this client uses (MS-SMB2 §2.2.13.2, §2.2.14.2).</summary>
internal static class CreateContextCodec
{
    // Common SMB2_CREATE_CONTEXT header.
    public const int HeaderSize = 16;
    private const int OffNext = 0;
    private const int OffNameOffset = 4;
    private const int OffNameLength = 6;
    private const int OffReserved = 8;
    private const int OffDataOffset = 10;
    private const int OffDataLength = 12;

    // DH2Q request (§2.2.13.2.11): Timeout(4) Flags(4) Reserved(8) CreateGuid(16).
    private const int DurableV2RequestSize = 32;
    private const int OffDh2qTimeout = 0;
    private const int OffDh2qFlags = 4;
    private const int OffDh2qCreateGuid = 16;

    // DH2C request (§2.2.13.2.12): FileId(16) CreateGuid(16) Flags(4).
    private const int DurableV2ReconnectSize = 36;
    private const int OffDh2cFileId = 0;
    private const int OffDh2cCreateGuid = 16;
    private const int OffDh2cFlags = 32;

    // DHnQ request (§2.2.13.2.3): 16 reserved bytes; DHnC (§2.2.13.2.4): FileId(16).
    private const int DurableV1RequestSize = 16;
    private const int DurableV1ReconnectSize = Smb2FileId.Size;

    // MxAc request (§2.2.13.2.5): optional Timestamp(8).
    private const int MaximalAccessTimestampSize = 8;

    // RqLs request/response v1 (32) and v2 (52).
    private const int LeaseV1Size = 32;
    private const int LeaseV2Size = 52;
    private const int OffLeaseKey = 0;
    private const int OffLeaseState = 16;
    private const int OffLeaseFlags = 20;
    private const int OffLeaseDuration = 24;
    private const int OffParentLeaseKey = 32;
    private const int OffEpoch = 48;

    // Responses.
    private const int DurableV2ResponseSize = 8;
    private const int OffDh2qRespTimeout = 0;
    private const int OffDh2qRespFlags = 4;
    private const int MaximalAccessResponseSize = 8;
    private const int OffMxAcQueryStatus = 0;
    private const int OffMxAcMaximalAccess = 4;
    private const int OnDiskIdResponseSize = 32;
    private const int OffQfidDiskFileId = 0;
    private const int OffQfidVolumeId = 8;

    public static CreateContext DurableV2Request(Guid createGuid, uint timeoutMilliseconds, bool persistent)
    {
        var data = new byte[DurableV2RequestSize];
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(OffDh2qTimeout), timeoutMilliseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(OffDh2qFlags),
            (uint)(persistent ? DurableHandleFlags.Persistent : DurableHandleFlags.None));
        Smb2Wire.WriteGuid(createGuid, data.AsSpan(OffDh2qCreateGuid));
        return new CreateContext(CreateContext.DurableV2RequestName, data);
    }

    public static CreateContext DurableV2Reconnect(Smb2FileId fileId, Guid createGuid, bool persistent)
    {
        var data = new byte[DurableV2ReconnectSize];
        fileId.WriteTo(data.AsSpan(OffDh2cFileId));
        Smb2Wire.WriteGuid(createGuid, data.AsSpan(OffDh2cCreateGuid));
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(OffDh2cFlags),
            (uint)(persistent ? DurableHandleFlags.Persistent : DurableHandleFlags.None));
        return new CreateContext(CreateContext.DurableV2ReconnectName, data);
    }

    public static CreateContext DurableV1Request() =>
        new(CreateContext.DurableV1RequestName, new byte[DurableV1RequestSize]);

    public static CreateContext DurableV1Reconnect(Smb2FileId fileId)
    {
        var data = new byte[DurableV1ReconnectSize];
        fileId.WriteTo(data);
        return new CreateContext(CreateContext.DurableV1ReconnectName, data);
    }

    /// <param name="timestamp">Optional FILETIME; access is computed only if the file changed since.</param>
    public static CreateContext MaximalAccessRequest(ulong? timestamp = null)
    {
        if (timestamp is null)
        {
            return new CreateContext(CreateContext.MaximalAccessName, []);
        }
        var data = new byte[MaximalAccessTimestampSize];
        BinaryPrimitives.WriteUInt64LittleEndian(data, timestamp.Value);
        return new CreateContext(CreateContext.MaximalAccessName, data);
    }

    public static CreateContext QueryOnDiskIdRequest() => new(CreateContext.QueryOnDiskIdName, []);

    /// <summary>SMB2_CREATE_REQUEST_LEASE (v1, SMB 2.1).</summary>
    public static CreateContext LeaseV1Request(Guid leaseKey, LeaseState state)
    {
        var data = new byte[LeaseV1Size];
        WriteLeaseCommon(data, leaseKey, state, LeaseFlags.None);
        return new CreateContext(CreateContext.LeaseName, data);
    }

    /// <summary>SMB2_CREATE_REQUEST_LEASE_V2 (SMB 3.x); a parent key sets SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET.</summary>
    public static CreateContext LeaseV2Request(Guid leaseKey, LeaseState state, Guid? parentLeaseKey = null, ushort epoch = 0)
    {
        var data = new byte[LeaseV2Size];
        WriteLeaseCommon(data, leaseKey, state, parentLeaseKey is null ? LeaseFlags.None : LeaseFlags.ParentLeaseKeySet);
        Smb2Wire.WriteGuid(parentLeaseKey ?? Guid.Empty, data.AsSpan(OffParentLeaseKey));
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(OffEpoch), epoch);
        return new CreateContext(CreateContext.LeaseName, data);
    }

    private static void WriteLeaseCommon(Span<byte> data, Guid leaseKey, LeaseState state, LeaseFlags flags)
    {
        Smb2Wire.WriteGuid(leaseKey, data[OffLeaseKey..]);
        BinaryPrimitives.WriteUInt32LittleEndian(data[OffLeaseState..], (uint)state);
        BinaryPrimitives.WriteUInt32LittleEndian(data[OffLeaseFlags..], (uint)flags);
        BinaryPrimitives.WriteUInt64LittleEndian(data[OffLeaseDuration..], 0);
    }

    public static DurableHandleV2Response ParseDurableV2Response(ReadOnlySpan<byte> data)
    {
        CheckSize(data, DurableV2ResponseSize, CreateContext.DurableV2RequestName);
        return new DurableHandleV2Response(
            BinaryPrimitives.ReadUInt32LittleEndian(data[OffDh2qRespTimeout..]),
            (DurableHandleFlags)BinaryPrimitives.ReadUInt32LittleEndian(data[OffDh2qRespFlags..]));
    }

    public static MaximalAccessResponse ParseMaximalAccessResponse(ReadOnlySpan<byte> data)
    {
        CheckSize(data, MaximalAccessResponseSize, CreateContext.MaximalAccessName);
        return new MaximalAccessResponse(
            (NtStatus)BinaryPrimitives.ReadUInt32LittleEndian(data[OffMxAcQueryStatus..]),
            (AccessMask)BinaryPrimitives.ReadUInt32LittleEndian(data[OffMxAcMaximalAccess..]));
    }

    public static OnDiskIdResponse ParseOnDiskIdResponse(ReadOnlySpan<byte> data)
    {
        CheckSize(data, OnDiskIdResponseSize, CreateContext.QueryOnDiskIdName);
        return new OnDiskIdResponse(
            BinaryPrimitives.ReadUInt64LittleEndian(data[OffQfidDiskFileId..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[OffQfidVolumeId..]));
    }

    /// <summary>Parses a lease response; the version follows from the data size (32 = v1, 52 = v2).</summary>
    public static LeaseResponse ParseLeaseResponse(ReadOnlySpan<byte> data)
    {
        CheckSize(data, LeaseV1Size, CreateContext.LeaseName);
        var isV2 = data.Length >= LeaseV2Size;
        return new LeaseResponse(
            isV2 ? 2 : 1,
            Smb2Wire.ReadGuid(data[OffLeaseKey..]),
            (LeaseState)BinaryPrimitives.ReadUInt32LittleEndian(data[OffLeaseState..]),
            (LeaseFlags)BinaryPrimitives.ReadUInt32LittleEndian(data[OffLeaseFlags..]),
            isV2 ? Smb2Wire.ReadGuid(data[OffParentLeaseKey..]) : Guid.Empty,
            isV2 ? BinaryPrimitives.ReadUInt16LittleEndian(data[OffEpoch..]) : (ushort)0);
    }

    private static void CheckSize(ReadOnlySpan<byte> data, int need, string name)
    {
        if (data.Length < need)
        {
            throw new SmbProtocolException($"Create context {name} response data is {data.Length} bytes, need {need}.");
        }
    }

    /// <summary>Bytes the chain occupies: each context padded to 8 except the last.</summary>
    public static int ChainLength(IReadOnlyList<CreateContext> contexts)
    {
        var total = 0;
        for (var i = 0; i < contexts.Count; i++)
        {
            var size = ContextSize(contexts[i]);
            total += i == contexts.Count - 1 ? size : Smb2Wire.Align8(size);
        }
        return total;
    }

    private static int DataPosition(CreateContext context) => Smb2Wire.Align8(HeaderSize + context.NameLength);

    private static int ContextSize(CreateContext context) =>
        context.Data.Length == 0 ? HeaderSize + context.NameLength : DataPosition(context) + context.Data.Length;

    /// <summary>Writes the chain at the start of <paramref name="destination"/> (which must be 8-byte aligned in the message).</summary>
    public static int WriteChain(IReadOnlyList<CreateContext> contexts, Span<byte> destination)
    {
        var pos = 0;
        for (var i = 0; i < contexts.Count; i++)
        {
            var context = contexts[i];
            var nameLength = context.NameLength;
            if (nameLength == 0 || nameLength > ushort.MaxValue - HeaderSize)
            {
                throw new ArgumentException($"Create context name length {nameLength} is invalid.", nameof(contexts));
            }
            var size = ContextSize(context);
            var isLast = i == contexts.Count - 1;
            var next = isLast ? 0 : Smb2Wire.Align8(size);
            var entry = destination[pos..];
            entry[..(isLast ? size : next)].Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(entry[OffNext..], (uint)next);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[OffNameOffset..], HeaderSize);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[OffNameLength..], (ushort)nameLength);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[OffReserved..], 0);
            if (context.Data.Length > 0)
            {
                var dataPosition = DataPosition(context);
                Smb2Wire.CheckFits(dataPosition, ushort.MaxValue, "Create context", "DataOffset");
                BinaryPrimitives.WriteUInt16LittleEndian(entry[OffDataOffset..], (ushort)dataPosition);
                BinaryPrimitives.WriteUInt32LittleEndian(entry[OffDataLength..], (uint)context.Data.Length);
                context.Data.CopyTo(entry[dataPosition..]);
            }
            Encoding.Latin1.GetBytes(context.Name, entry[HeaderSize..]);
            pos += isLast ? size : next;
        }
        return pos;
    }

    /// <summary>
    /// Parses a create-context chain. Each Next must move forward by at least a header and stay
    /// inside the chain; name and data must lie inside their own context.
    /// </summary>
    public static List<CreateContext> ParseChain(ReadOnlySpan<byte> chain, string messageName)
    {
        var result = new List<CreateContext>();
        var pos = 0;
        while (true)
        {
            var remaining = chain.Length - pos;
            if (remaining < HeaderSize)
            {
                throw new SmbProtocolException(
                    $"{messageName} create context {result.Count} at {pos} needs {HeaderSize} header bytes, {remaining} left.");
            }
            var entry = chain[pos..];
            var next = BinaryPrimitives.ReadUInt32LittleEndian(entry[OffNext..]);
            if (next != 0 && (next < HeaderSize || next > (uint)remaining))
            {
                throw new SmbProtocolException(
                    $"{messageName} create context {result.Count} Next {next} is outside {HeaderSize}..{remaining}.");
            }
            var extent = next == 0 ? remaining : (int)next;
            var nameOffset = BinaryPrimitives.ReadUInt16LittleEndian(entry[OffNameOffset..]);
            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(entry[OffNameLength..]);
            var dataOffset = BinaryPrimitives.ReadUInt16LittleEndian(entry[OffDataOffset..]);
            var dataLength = BinaryPrimitives.ReadUInt32LittleEndian(entry[OffDataLength..]);
            if (nameLength == 0 || nameOffset < HeaderSize || nameOffset + nameLength > extent)
            {
                throw new SmbProtocolException(
                    $"{messageName} create context {result.Count} name (offset {nameOffset}, length {nameLength}) is outside the context ({extent} bytes).");
            }
            if (dataLength != 0 && (dataOffset < HeaderSize || dataLength > (uint)(extent - Math.Min(dataOffset, extent)) || dataOffset > extent))
            {
                throw new SmbProtocolException(
                    $"{messageName} create context {result.Count} data (offset {dataOffset}, length {dataLength}) is outside the context ({extent} bytes).");
            }
            var name = Encoding.Latin1.GetString(entry.Slice(nameOffset, nameLength));
            var data = dataLength == 0 ? [] : entry.Slice(dataOffset, (int)dataLength).ToArray();
            result.Add(new CreateContext(name, data));
            if (next == 0)
            {
                return result;
            }
            pos += (int)next;
        }
    }
}
