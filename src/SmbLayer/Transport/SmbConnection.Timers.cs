using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// Request expiry and cancellation (DESIGN §4, §5).
internal sealed partial class SmbConnection
{
    /// <summary>How often the timer loop looks at deadlines.</summary>
    private static readonly TimeSpan TimerPeriod = TimeSpan.FromMilliseconds(250);

    private async Task TimerLoopAsync(CancellationToken cancellationToken)
    {
        // Closing disposes the timer, which ends the loop without an exception (an exception per
        // closed connection costs; the first one in a process loads the stack-trace machinery).
        using var timer = new PeriodicTimer(TimerPeriod);
        using var stop = cancellationToken.Register(static t => ((PeriodicTimer)t!).Dispose(), timer);
        while (await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            var now = Environment.TickCount64;
            ExpireRequests(now);
            CheckLiveness(now);
        }
    }

    private void ExpireRequests(long now)
    {
        if (_link is not { } link)
        {
            return;
        }
        foreach (var (_, p) in link.Pending)
        {
            if (p.Abandoned || now < p.DeadlineTicks)
            {
                continue;
            }
            p.Abandoned = true;
            var error = new SmbTimeoutException(
                $"{p.Body.Command} (MessageId {p.MessageId}) got no answer from {Host}:{Port} within its timeout " +
                $"[connection {State}, {link.Pending.Count} requests in flight, last byte from the server {SinceLastReceive.TotalSeconds:0.0} s ago]");
            _logger.RequestExpired(error.Message);
            if (p.Completion.TrySetException(error))
            {
                p.SetState(RequestState.Failed);
                RecordUnanswered(p, SmbInstruments.ReasonTimeout);
                QueueCancel(p);
            }
        }
    }

    /// <summary>
    /// Sends an SMB2 ECHO (MS-SMB2 §3.2.4.20) as a priority request: it may use the credit held in
    /// reserve, so it goes out even when bulk I/O has taken every other credit.
    /// </summary>
    public async Task EchoAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new EchoRequest(), EchoContext, cancellationToken, priority: true).ConfigureAwait(false);
        if (response.Status != NtStatus.Success)
        {
            throw SmbStatusException.Create(response.Status, $"ECHO to {Host}:{Port}");
        }
        EchoResponse.Parse(response.Message);
    }

    /// <summary>The caller's token fired after the request went on the wire.</summary>
    private void OnCallerCancelled(PendingRequest pending, CancellationToken token)
    {
        if (pending.Completion.Task.IsCompleted || pending.Abandoned)
        {
            return;
        }
        QueueCancel(pending);
        // Short grace for the server's final word: a success that arrives is honoured and returned.
        _ = GraceAsync(pending, token);
    }

    private async Task GraceAsync(PendingRequest pending, CancellationToken token)
    {
        try
        {
            await Task.Delay(Settings.CancelGrace, _lifetime.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Connection closed: Close() already failed the request.
            return;
        }
        if (!pending.Completion.Task.IsCompleted)
        {
            pending.Abandoned = true;
            if (pending.Completion.TrySetCanceled(token))
            {
                pending.SetState(RequestState.Cancelled);
                RecordUnanswered(pending, SmbInstruments.ReasonCancelled);
                _logger.CancelGraceExpired(pending);
            }
        }
    }

    /// <summary>Queues an SMB2 CANCEL for a request that is on the wire (by MessageId, or by AsyncId once known).</summary>
    private void QueueCancel(PendingRequest pending)
    {
        lock (_sendLock)
        {
            if (_failure is not null || _link is not { Failed: false } link || !link.Pending.TryGetValue(pending.MessageId, out var current) || current != pending)
            {
                return;
            }
            pending.CancelSent = true;
            link.Queue.Writer.TryWrite(new OutgoingItem(null, pending));
        }
    }
}
