namespace SmbLayer.Transport;

/// <summary>
/// When a link last received a byte from the server, and whether its reader is busy writing received data into a
/// local file (a slow disk holds it there; the bytes that wait meanwhile are ours to read, not missing). Liveness
/// judges the server by it (DESIGN §5).
/// </summary>
internal sealed class ReceiveClock
{
    private long _lastReceiveTicks = Environment.TickCount64;
    private long _localWriteSince;

    /// <summary>Environment.TickCount64 of the last byte received.</summary>
    public long LastReceiveTicks => Interlocked.Read(ref _lastReceiveTicks);

    public TimeSpan SinceLastReceive => TimeSpan.FromMilliseconds(Environment.TickCount64 - LastReceiveTicks);

    /// <summary>True while the reader writes received data into a local file.</summary>
    public bool WritingLocally => Interlocked.Read(ref _localWriteSince) != 0;

    public void MarkReceived() => Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);

    public void MarkReceived(long now) => Interlocked.Exchange(ref _lastReceiveTicks, now);

    /// <summary>Runs a write of received data into a local file, with liveness judgement paused for its length.</summary>
    public void WriteLocally<TState>(Action<TState> write, TState state)
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
            MarkReceived();
            Interlocked.Exchange(ref _localWriteSince, 0);
        }
    }
}
