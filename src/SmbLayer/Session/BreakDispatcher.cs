using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>A server-initiated break as the upper layers see it.</summary>
internal sealed record BreakNotice(SmbOpen? Open, Smb2FileId? FileId, OplockLevel? NewOplockLevel, Guid? LeaseKey, LeaseState? NewLeaseState);

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

    public void Untrack(SmbOpen open) => _opens.TryRemove(open, out _);

    private void OnServerMessage(ReadOnlyMemory<byte> message)
    {
        OplockBreakMessage parsed;
        try
        {
            parsed = OplockBreakMessage.Parse(message.Span);
        }
        catch (SmbProtocolException ex)
        {
            _logger.MalformedBreak(ex.Message);
            return;
        }
        switch (parsed)
        {
            case OplockBreak oplock:
                var open = _opens.Keys.FirstOrDefault(o => o.FileId == oplock.FileId);
                Notify(new BreakNotice(open, oplock.FileId, oplock.OplockLevel, null, null));
                if (open is not null && !open.IsClosed)
                {
                    _ = AcknowledgeAsync(open, new OplockBreakAcknowledgment(oplock.FileId, oplock.OplockLevel));
                }
                break;
            case LeaseBreakNotification lease:
                var holder = _opens.Keys.FirstOrDefault(o => o.LeaseKey == lease.LeaseKey);
                Notify(new BreakNotice(holder, null, null, lease.LeaseKey, lease.NewLeaseState));
                if (holder is not null && lease.AckRequired)
                {
                    _ = AcknowledgeAsync(holder, new LeaseBreakAcknowledgment(lease.LeaseKey, lease.NewLeaseState));
                }
                break;
            default:
                _logger.UnexpectedServerMessage(parsed.GetType().Name);
                break;
        }
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
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var response = await open.Tree.Connection.SendAsync(acknowledgment, open.Tree.Context, cts.Token).ConfigureAwait(false);
            _logger.BreakAcknowledged(open.Name, response.Status);
            open.OnBreakAcknowledged(response.Status);
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            _logger.BreakAcknowledgmentFailed(open.Name, ex.Message);
        }
    }
}
