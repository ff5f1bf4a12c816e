namespace SmbLayer.Session;

/// <summary>
/// What one call does while its connection is down, and how long it may take in all. A value, passed down
/// explicitly: the file API makes it from the client's options (or a <see cref="SmbClient.WithFailureMode"/>
/// or <see cref="SmbClient.WithOperationTimeout"/> view) and leases the tree with it; an open keeps the options
/// it was created with, so a stream or a listing uses them for everything done through it later, from whatever
/// async flow or synchronous Stream method; the replay loop, the compound loop and the pool read them.
/// <list type="bullet">
/// <item><see cref="Mode"/>: hard waits for the reconnect; soft gives up once the connection has been unusable
/// for <see cref="SoftTimeout"/> (DESIGN §5).</item>
/// <item><see cref="TimeLimit"/>: when set, each call gets a <see cref="Deadline"/> when it begins
/// (<see cref="Begin"/>); every wait of that call (replies and STATUS_PENDING extensions, reconnects, "try
/// again" answers, connecting and authenticating) ends by then with <see cref="SmbTimeoutException"/>.</item>
/// </list>
/// </summary>
internal readonly record struct CallOptions(SmbFailureMode Mode, TimeSpan SoftTimeout, TimeSpan? TimeLimit = null)
{
    /// <summary>No call deadline.</summary>
    public const long NoDeadline = long.MaxValue;

    /// <summary>Waits through any outage.</summary>
    public static CallOptions Hard => new(SmbFailureMode.Hard, TimeSpan.Zero);

    /// <summary>Gives up once the connection has been unusable for <paramref name="timeout"/>.</summary>
    public static CallOptions Soft(TimeSpan timeout) => new(SmbFailureMode.Soft, timeout);

    /// <summary>
    /// The moment (monotonic, <see cref="Environment.TickCount64"/> milliseconds) the call that began with these
    /// options must end by; <see cref="NoDeadline"/> before <see cref="Begin"/> or without a <see cref="TimeLimit"/>.
    /// </summary>
    public long Deadline { get; init; } = NoDeadline;

    /// <summary>The soft limit to wait for a reconnect, or null to wait as long as it takes (hard).</summary>
    public TimeSpan? SoftLimit => Mode == SmbFailureMode.Soft ? SoftTimeout : null;

    /// <summary>
    /// These options for a call that begins now: its deadline is set from <see cref="TimeLimit"/>, unless it is
    /// part of a call that already has one (a CREATE inside an operation), which keeps that.
    /// </summary>
    public CallOptions Begin() => TimeLimit is { } limit && Deadline == NoDeadline
        ? this with { Deadline = Environment.TickCount64 + (long)limit.TotalMilliseconds }
        : this;

    /// <summary>What an open keeps for the calls made through it later: each of them begins its own deadline.</summary>
    public CallOptions ForLaterCalls() => this with { Deadline = NoDeadline };

    /// <summary>Time left before the deadline (zero once passed); null when the call has none.</summary>
    public TimeSpan? Remaining => Deadline == NoDeadline
        ? null
        : TimeSpan.FromMilliseconds(Math.Max(0, Deadline - Environment.TickCount64));

    /// <summary>Whether the call's deadline has passed.</summary>
    public bool Expired => Deadline != NoDeadline && Environment.TickCount64 >= Deadline;

    /// <summary>The error of a call whose deadline passed while it was doing <paramref name="what"/>.</summary>
    public SmbTimeoutException DeadlineError(string what, Exception? inner = null) => new(
        $"{what}: the call's time limit of {(TimeLimit ?? TimeSpan.Zero).TotalSeconds:0.###} s ran out", inner);

    /// <summary>Throws <see cref="DeadlineError"/> when the deadline has passed.</summary>
    public void ThrowIfExpired(string what)
    {
        if (Expired)
        {
            throw DeadlineError(what);
        }
    }
}
