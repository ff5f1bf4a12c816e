namespace SmbLayer.Session;

/// <summary>
/// The waits between attempts of a call the server keeps answering "try again" (STATUS_SERVER_UNAVAILABLE,
/// STATUS_FILE_NOT_AVAILABLE, STATUS_INSUFF_SERVER_RESOURCES): 50 ms, doubling, never more than 1 s. The cap is
/// what keeps a hard call making progress: however long the server stays busy (a replayed CREATE whose original
/// it is still running, MS-SMB2 §3.3.5.9.10), the call asks again at least once a second and goes on within a
/// second of the server being ready. A long cap is the bug this type exists to prevent (NFSv4 clients back off
/// to 30 s on NFS4ERR_DELAY and sit idle long after the server can answer). No jitter: these answers come per
/// request, not to a crowd reconnecting at once. A mutable struct, kept in its call's state.
/// </summary>
internal struct TryAgainBackoff
{
    /// <summary>The wait after the first "try again" answer.</summary>
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest wait between two attempts (docs/SEMANTICS.md, "Try again").</summary>
    public static readonly TimeSpan Cap = TimeSpan.FromSeconds(1);

    private TimeSpan _next;

    /// <summary>The wait before the next attempt; each call doubles the one after, up to <see cref="Cap"/>.</summary>
    public TimeSpan Next()
    {
        var delay = _next == TimeSpan.Zero ? Initial : _next;
        _next = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Cap.Ticks));
        return delay;
    }
}
