using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// The timer loop: request expiry (DESIGN §4) and liveness (DESIGN §5, the 137-second lesson). Any byte from the server
// proves it alive, also one still waiting unread in our socket buffer (our own reader can be the slow party). While a
// request is outstanding and the server has been silent for ProbeDelay, an ECHO goes out; if nothing at all arrives
// within EchoTimeout of the server having it, the link is dead. The server is judged only on what it has received: an
// ECHO still waiting behind our own bytes (a slow uplink: our queue, our socket's send buffer) starts no clock, and
// while it waits the link is dead only if the server takes none of our bytes for EchoTimeout. Idle connections are
// probed after IdleProbeInterval. A slow server that answers the ECHO is never declared dead.
internal sealed partial class SmbConnection
{
    /// <summary>How often the timer loop looks at deadlines.</summary>
    private static readonly TimeSpan TimerPeriod = TimeSpan.FromMilliseconds(250);

    /// <summary>When the outstanding probe was queued (TickCount64 ms), or 0 when none is.</summary>
    private long _probeSentTicks;

    /// <summary>Context for ECHO probes: no session, no signing, a bounded wait of its own.</summary>
    private RequestContext EchoContext => new() { Timeout = Settings.EchoTimeout + Settings.EchoTimeout };

    private RequestContext ProbeContext => new() { Timeout = Settings.EchoTimeout + Settings.EchoTimeout, IsProbe = true };

    /// <summary>Smallest WRITE the send-rate limit below sizes down to.</summary>
    private const int MinimumRateLimitedWrite = 64 * 1024;

    /// <summary>
    /// Largest WRITE that leaves within half the probe delay at the rate the server has been taking our bytes (int.MaxValue
    /// until a rate is measured). On a slow uplink a probe queued behind one frame then waits less than the probe delay,
    /// even where a queue we cannot see (a buffering VPN client or proxy) holds our bytes after the kernel let them go.
    /// </summary>
    public int WriteSizeLimit
    {
        get
        {
            var rate = _link?.SendRate ?? 0;
            if (rate <= 0)
            {
                return int.MaxValue;
            }
            var bytes = rate * (long)Settings.ProbeDelay.TotalMilliseconds / 2000;
            return (int)Math.Clamp(bytes, MinimumRateLimitedWrite, int.MaxValue);
        }
    }

    private async Task TimerLoopAsync(CancellationToken cancellationToken)
    {
        // Closing disposes the timer, which ends the loop without an exception (an exception per
        // closed connection costs; the first one in a process loads the stack-trace machinery).
        using var timer = new PeriodicTimer(TimerPeriod);
        using var stop = cancellationToken.Register(static t => ((PeriodicTimer)t!).Dispose(), timer);
        while (await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            var now = Environment.TickCount64;
            _link?.SampleSend(now);
            _link?.ExpireOverdue(now, State);
            CheckLiveness(now);
        }
    }

    private void CheckLiveness(long now)
    {
        if (State != ConnectionState.Ready || _link is not { Failed: false } link || link.Clock.WritingLocally)
        {
            // Not judged outside Ready; nor while the reader puts received data into a local file: the silence is ours,
            // not the server's (judged again once it is back: the write ends by counting as a receive).
            return;
        }
        var lastReceive = link.Clock.LastReceiveTicks;
        var probeSent = Interlocked.Read(ref _probeSentTicks);
        if (probeSent != 0)
        {
            var delivered = link.ProbeDeliveredTicks;
            // Until the server has the probe, its clock has not started: the link is judged by whether the server
            // keeps taking our bytes (a peer that takes none for EchoTimeout is as dead as one that does not answer).
            var judgedFrom = delivered != 0 ? delivered : Math.Max(probeSent, link.LastSendProgressTicks);
            if (lastReceive >= probeSent)
            {
                Interlocked.CompareExchange(ref _probeSentTicks, 0, probeSent); // alive: something came back
            }
            else if (now - judgedFrom >= (long)Settings.EchoTimeout.TotalMilliseconds)
            {
                if (link.HasUnreadBytes)
                {
                    // The server did answer: its bytes wait in our socket buffer because our reader is held up in this
                    // process (a starved thread pool, a slow callback). Alive; judged again from now.
                    link.Clock.MarkReceived(now);
                    Interlocked.CompareExchange(ref _probeSentTicks, 0, probeSent);
                    return;
                }
                var silence = TimeSpan.FromMilliseconds(now - lastReceive);
                link.Fail(new SmbConnectionException(
                    $"Server {Host}:{Port} stopped answering: nothing received for {silence.TotalSeconds:0.0} s, " +
                    (delivered != 0
                        ? $"ECHO unanswered for {Settings.EchoTimeout.TotalSeconds:0.#} s"
                        : $"none of our {link.UnacknowledgedBytes} bytes waiting to reach it taken for {Settings.EchoTimeout.TotalSeconds:0.#} s") +
                    $" [{link.InFlight} requests in flight]"),
                    SmbConnectionLossReason.ServerUnresponsive);
            }
            return;
        }
        if (link.CreditsStalled)
        {
            // Requests wait for credits that no outstanding answer will bring: an ECHO on the last credit asks
            // for more (every request asks for enough to reach TargetCredits). It counts as a probe.
            _logger.EchoForCredits(Host, Port);
            StartProbe(link, now);
            return;
        }
        var threshold = link.HasActiveRequests ? Settings.ProbeDelay : Settings.IdleProbeInterval;
        if (now - lastReceive >= (long)threshold.TotalMilliseconds)
        {
            StartProbe(link, now);
        }
    }

    /// <summary>Sends an ECHO and marks it outstanding: from now on the next check judges the link by what comes back.</summary>
    private void StartProbe(SmbLink link, long now)
    {
        link.ExpectProbe();
        Interlocked.Exchange(ref _probeSentTicks, now);
        _ = ProbeAsync(link.Token);
    }

    private async Task ProbeAsync(CancellationToken linkToken)
    {
        try
        {
            await EchoAsync(ProbeContext, linkToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            // A lost link or a timeout is judged by CheckLiveness from what (did not) arrive.
            _logger.EchoEnded(Host, Port, ex.Message);
        }
    }

    /// <summary>
    /// Sends an SMB2 ECHO (MS-SMB2 §3.2.4.20) as a priority request: it may use the credit held in
    /// reserve, so it goes out even when bulk I/O has taken every other credit.
    /// </summary>
    public Task EchoAsync(CancellationToken cancellationToken) => EchoAsync(EchoContext, cancellationToken);

    private async Task EchoAsync(RequestContext context, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new EchoRequest(), context, cancellationToken, priority: true).ConfigureAwait(false);
        if (response.Status != NtStatus.Success)
        {
            throw SmbStatusException.Create(response.Status, $"ECHO to {Host}:{Port}");
        }
        response.Parse(EchoResponse.Parse);
    }
}
