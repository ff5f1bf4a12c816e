using Microsoft.Extensions.Logging;

namespace SmbLayer.Transport;

// Liveness (DESIGN §5, the 137-second lesson): any byte from the server proves it alive, also one still
// waiting unread in our socket buffer (our own reader can be the slow party). While a
// request is outstanding and the server has been silent for ProbeDelay, an ECHO goes out; if
// nothing at all arrives within EchoTimeout of it, the connection is dead. Idle connections are
// probed after IdleProbeInterval. A slow server that answers the ECHO is never declared dead.
internal sealed partial class SmbConnection
{
    /// <summary>When the outstanding probe was sent (TickCount64 ms), or 0 when none is.</summary>
    private long _probeSentTicks;

    /// <summary>
    /// Since when the reader has been writing a READ's data into a local file (<see cref="FileSink"/>), or 0.
    /// A slow disk can hold it there for seconds; the bytes that wait meanwhile are ours to read, not missing.
    /// </summary>
    private long _localWriteSince;

    /// <summary>Context for ECHO probes: no session, no signing, a bounded wait of its own.</summary>
    private RequestContext EchoContext => new() { Timeout = Settings.EchoTimeout + Settings.EchoTimeout };

    private void CheckLiveness(long now)
    {
        if (State != ConnectionState.Ready || _link is not { Failed: false } link)
        {
            return;
        }
        if (Interlocked.Read(ref _localWriteSince) != 0)
        {
            // The reader is busy putting received data into a local file: the silence is ours, not the server's.
            // Judged again once it is back (the write ends by counting as a receive).
            return;
        }
        var lastReceive = Interlocked.Read(ref _lastReceiveTicks);
        var probeSent = Interlocked.Read(ref _probeSentTicks);
        if (probeSent != 0)
        {
            if (lastReceive >= probeSent)
            {
                Interlocked.CompareExchange(ref _probeSentTicks, 0, probeSent); // alive: something came back
            }
            else if (now - probeSent >= (long)Settings.EchoTimeout.TotalMilliseconds)
            {
                if (AnswersWaitUnread(link))
                {
                    // The server did answer: its bytes wait in our socket buffer because our reader is held up in this
                    // process (a starved thread pool, a slow callback). Alive; judged again from now.
                    Interlocked.Exchange(ref _lastReceiveTicks, now);
                    Interlocked.CompareExchange(ref _probeSentTicks, 0, probeSent);
                    return;
                }
                var silence = TimeSpan.FromMilliseconds(now - lastReceive);
                LinkFailed(link, new SmbConnectionException(
                    $"Server {Host}:{Port} stopped answering: nothing received for {silence.TotalSeconds:0.0} s, " +
                    $"ECHO unanswered for {Settings.EchoTimeout.TotalSeconds:0.#} s [{link.Pending.Count} requests in flight]"));
            }
            return;
        }
        if (link.Credits.IsStalled)
        {
            // Requests wait for credits that no outstanding answer will bring: an ECHO on the last credit asks
            // for more (every request asks for enough to reach TargetCredits). It counts as a probe.
            _logger.EchoForCredits(Host, Port);
            StartProbe(link, now);
            return;
        }
        var active = false;
        foreach (var (_, p) in link.Pending)
        {
            if (!p.Abandoned)
            {
                active = true;
                break;
            }
        }
        var threshold = active ? Settings.ProbeDelay : Settings.IdleProbeInterval;
        if (now - lastReceive >= (long)threshold.TotalMilliseconds)
        {
            StartProbe(link, now);
        }
    }

    /// <summary>Whether bytes from the server wait in the socket's receive buffer, not yet read by the reader.</summary>
    private static bool AnswersWaitUnread(Link link)
    {
        try
        {
            return link.Stream is System.Net.Sockets.NetworkStream network && network.Socket.Available > 0;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>Runs a write of received data into a local file, with liveness judgement paused for its length.</summary>
    private void WriteLocally<TState>(Action<TState> write, TState state)
    {
        Interlocked.Exchange(ref _localWriteSince, Environment.TickCount64);
        try
        {
            write(state);
        }
        finally
        {
            // What the server sent while we were writing waited in our socket buffer: count the end of the write as
            // the last receive, so the time spent writing is not taken for the server's silence.
            Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
            Interlocked.Exchange(ref _localWriteSince, 0);
        }
    }

    /// <summary>Sends an ECHO and marks it outstanding: from now on the next check judges the link by what comes back.</summary>
    private void StartProbe(Link link, long now)
    {
        Interlocked.Exchange(ref _probeSentTicks, now);
        _ = ProbeAsync(link);
    }

    private async Task ProbeAsync(Link link)
    {
        try
        {
            await EchoAsync(link.Cancellation.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            // A lost link or a timeout is judged by CheckLiveness from what (did not) arrive.
            _logger.EchoEnded(Host, Port, ex.Message);
        }
    }
}
