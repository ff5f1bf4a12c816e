namespace SmbLayer.Session;

/// <summary>
/// Hard or soft behaviour for the calls running in the current async flow. The file API sets it
/// per call (client default or a per-call override); the replay loop reads it when it has to
/// wait for a reconnect.
/// </summary>
internal sealed record CallPolicy(SmbFailureMode Mode, TimeSpan SoftTimeout)
{
    private static readonly AsyncLocal<CallPolicy?> CurrentPolicy = new();

    public static CallPolicy Default { get; } = new(SmbFailureMode.Soft, TimeSpan.FromSeconds(30));

    public static CallPolicy Current => CurrentPolicy.Value ?? Default;

    /// <summary>The soft limit to wait for a reconnect, or null to wait as long as it takes (hard).</summary>
    public TimeSpan? SoftLimit => Mode == SmbFailureMode.Soft ? SoftTimeout : null;

    /// <summary>Makes <paramref name="policy"/> current for the rest of the calling async flow.</summary>
    public static void Enter(CallPolicy policy) => CurrentPolicy.Value = policy;
}
