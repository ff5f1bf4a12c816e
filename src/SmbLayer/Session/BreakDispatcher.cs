using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>A server-initiated break as the upper layers see it.</summary>
internal sealed record BreakNotice(SmbOpen? Open, Smb2FileId? FileId, OplockLevel? NewOplockLevel, Guid? LeaseKey, LeaseState? NewLeaseState)
{
    /// <summary>
    /// It came encrypted. A plaintext one may come from anyone on the path: servers need not encrypt or sign breaks
    /// (Samba sends them in plaintext on encrypted sessions), so nothing beyond an acknowledgment may rest on one.
    /// </summary>
    public bool Encrypted { get; init; }
}

/// <summary>
/// Receives oplock and lease break notifications on one connection (MS-SMB2 §3.2.5.19), tells
/// registered callbacks, and acknowledges them on the open's own tree so the server can let the
/// conflicting opener in. Runs off the reader loop (the transport hands messages over on the
/// thread pool).
/// </summary>
internal sealed class BreakDispatcher
{
    /// <summary>
    /// The opens whose breaks this connection delivers. Kept by open, not by FileId: a reclaim after a reconnect
    /// gives the open a new FileId (keyed by the old one, its oplock breaks went unanswered and the entry leaked).
    /// Breaks are rare; finding the open is a scan.
    /// </summary>
    private readonly ConcurrentDictionary<SmbOpen, byte> _opens = new();
    private readonly List<Action<BreakNotice>> _callbacks = [];

    /// <summary>Opens with an acknowledgment in flight, each with the one to send next (null: none waiting). Guarded by itself.</summary>
    private readonly Dictionary<SmbOpen, ISmb2Request?> _acknowledging = [];
    private readonly ILogger _logger;

    public BreakDispatcher(SmbConnection connection, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger<BreakDispatcher>();
        connection.RegisterServerMessageHandler(OnServerMessage);
    }

    /// <summary>Adds a callback; it runs on the thread pool before the acknowledgment goes out.</summary>
    public void Register(Action<BreakNotice> callback)
    {
        lock (_callbacks)
        {
            _callbacks.Add(callback);
        }
    }

    public void Track(SmbOpen open) => _opens[open] = 0;

    /// <summary>
    /// Opens no longer tracked whose lease the server may still hold, newest last, at most <see cref="MaxFormerLeases"/>:
    /// a handle being closed (a break can cross its CLOSE), one whose CLOSE was lost or refused, one lost in a reconnect
    /// while the server kept it as a durable handle. The server breaks such a lease when another opener comes;
    /// unacknowledged, that opener waits for the server's break timeout (35 s in Samba). An open leaves once the server
    /// answers its CLOSE (<see cref="Released"/>): its lease key is its own, so nothing can break it after that. (Before,
    /// every closed open stayed until 1,024 newer ones pushed it out: the soak's 64 connections held 65,000 of them.)
    /// Indexed by lease key; guarded by <see cref="_formerLeases"/>.
    /// </summary>
    private readonly LinkedList<SmbOpen> _formerLeases = new();
    private readonly Dictionary<Guid, LinkedListNode<SmbOpen>> _formerByKey = [];

    private const int MaxFormerLeases = 1024;

    /// <summary>Opens kept for their lease (tests).</summary>
    internal int FormerLeaseCount
    {
        get
        {
            lock (_formerLeases)
            {
                return _formerLeases.Count;
            }
        }
    }

    public void Untrack(SmbOpen open)
    {
        if (_opens.TryRemove(open, out _) && open.LeaseKey is { } key)
        {
            lock (_formerLeases)
            {
                if (_formerByKey.Remove(key, out var older))
                {
                    _formerLeases.Remove(older);
                }
                _formerByKey[key] = _formerLeases.AddLast(open);
                if (_formerLeases.Count > MaxFormerLeases)
                {
                    _formerByKey.Remove(_formerLeases.First!.Value.LeaseKey!.Value);
                    _formerLeases.RemoveFirst();
                }
            }
        }
    }

    /// <summary>The server answered <paramref name="open"/>'s CLOSE: it holds no lease for it any more.</summary>
    public void Released(SmbOpen open)
    {
        if (open.LeaseKey is not { } key)
        {
            return;
        }
        lock (_formerLeases)
        {
            if (_formerByKey.TryGetValue(key, out var node) && node.Value == open)
            {
                _formerByKey.Remove(key);
                _formerLeases.Remove(node);
            }
        }
    }

    /// <summary>The untracked open that held <paramref name="leaseKey"/>: its tree carries the acknowledgment.</summary>
    private SmbOpen? FormerHolder(Guid leaseKey)
    {
        lock (_formerLeases)
        {
            return _formerByKey.TryGetValue(leaseKey, out var node) ? node.Value : null;
        }
    }

    private void OnServerMessage(ServerMessage message)
    {
        OplockBreakMessage parsed;
        try
        {
            parsed = OplockBreakMessage.Parse(message.Message.Span);
        }
        catch (SmbProtocolException ex)
        {
            _logger.MalformedBreak(ex.Message);
            return;
        }
        switch (parsed)
        {
            case OplockBreak oplock:
                // Taken in plaintext too, also where the open's share encrypts: Samba 4.17 sends oplock breaks unencrypted
                // on sessions that require encryption, and no break is signed (MS-SMB2 §3.2.5.1.3 skips verifying
                // MessageId 0xFFFFFFFFFFFFFFFF). What one can do is bounded instead: it is acted on only for a handle this
                // connection holds, acknowledged on that handle's own (signed or encrypted) tree, where a server that is
                // not breaking refuses it (§3.3.5.22.1), and one acknowledgment per handle is in flight at a time.
                var open = _opens.Keys.FirstOrDefault(o => o.FileId == oplock.FileId);
                Notify(new BreakNotice(open, oplock.FileId, oplock.OplockLevel, null, null) { Encrypted = message.EncryptedFor is not null });
                if (open is not null && !open.IsClosed)
                {
                    Acknowledge(open, new OplockBreakAcknowledgment(oplock.FileId, oplock.OplockLevel));
                }
                break;
            case LeaseBreakNotification lease:
                // A lease names no session (§3.3.4.7: SessionId 0); Samba sends lease breaks in plaintext on encrypted
                // sessions. Bounded as above; a server not breaking the lease refuses the acknowledgment (§3.3.5.22.2).
                var holder = _opens.Keys.FirstOrDefault(o => o.LeaseKey == lease.LeaseKey);
                Notify(new BreakNotice(holder, null, null, lease.LeaseKey, lease.NewLeaseState) { Encrypted = message.EncryptedFor is not null });
                // A lease we no longer track (its handle closed, or lost in a reconnect while the server kept it) is still
                // acknowledged, on the tree its open had: else the opener that caused the break waits for the server's
                // break timeout.
                if ((holder ?? FormerHolder(lease.LeaseKey)) is { } acknowledger && lease.AckRequired)
                {
                    Acknowledge(acknowledger, new LeaseBreakAcknowledgment(lease.LeaseKey, lease.NewLeaseState));
                }
                break;
            default:
                _logger.UnexpectedServerMessage(parsed.GetType().Name);
                break;
        }
    }

    /// <summary>
    /// Acknowledges a break on the open's own tree, at most one acknowledgment in flight per open: a break arriving
    /// while one is out replaces any still waiting and goes once it ends. A server (or anyone on the path, for the
    /// plaintext breaks that must be taken) sending breaks faster than they are answered makes us hold one request per
    /// open, not one per break.
    /// </summary>
    private void Acknowledge(SmbOpen open, ISmb2Request acknowledgment)
    {
        lock (_acknowledging)
        {
            if (_acknowledging.TryGetValue(open, out _))
            {
                _acknowledging[open] = acknowledgment;
                return;
            }
            _acknowledging[open] = null;
        }
        _ = AcknowledgeAsync(open, acknowledgment);
    }

    private void Notify(BreakNotice notice)
    {
        Action<BreakNotice>[] callbacks;
        lock (_callbacks)
        {
            callbacks = [.. _callbacks];
        }
        foreach (var callback in callbacks)
        {
            try
            {
                callback(notice);
            }
            catch (Exception ex)
            {
                _logger.BreakCallbackFailed(ex);
            }
        }
    }

    private async Task AcknowledgeAsync(SmbOpen open, ISmb2Request acknowledgment)
    {
        for (var next = acknowledgment; next is not null;)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                using var response = await open.Tree.Connection.SendAsync(next, open.Tree.Context, cts.Token).ConfigureAwait(false);
                _logger.BreakAcknowledged(open.Name, response.Status);
                open.OnBreakAcknowledged(response.Status);
            }
            catch (Exception ex) when (ex is SmbException or OperationCanceledException)
            {
                _logger.BreakAcknowledgmentFailed(open.Name, ex.Message);
            }
            lock (_acknowledging)
            {
                _acknowledging.TryGetValue(open, out next);
                if (next is null)
                {
                    _acknowledging.Remove(open);
                }
                else
                {
                    _acknowledging[open] = null;
                }
            }
        }
    }
}
