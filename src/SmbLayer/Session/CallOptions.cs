namespace SmbLayer.Session;

/// <summary>
/// What one call does while its connection is down: hard waits for the reconnect, soft gives up once the
/// connection has been unusable for <see cref="SoftTimeout"/> (DESIGN §5). A value, passed down explicitly:
/// the file API makes it from the client's options (or a <see cref="SmbClient.WithFailureMode"/> view) and
/// leases the tree with it; an open keeps the options it was created with, so a stream or a listing uses
/// them for everything done through it later, from whatever async flow or synchronous Stream method; the
/// replay loop, the compound loop and the pool read them when they have to wait for a reconnect.
/// </summary>
internal readonly record struct CallOptions(SmbFailureMode Mode, TimeSpan SoftTimeout)
{
    /// <summary>Waits through any outage.</summary>
    public static CallOptions Hard => new(SmbFailureMode.Hard, TimeSpan.Zero);

    /// <summary>Gives up once the connection has been unusable for <paramref name="timeout"/>.</summary>
    public static CallOptions Soft(TimeSpan timeout) => new(SmbFailureMode.Soft, timeout);

    /// <summary>The soft limit to wait for a reconnect, or null to wait as long as it takes (hard).</summary>
    public TimeSpan? SoftLimit => Mode == SmbFailureMode.Soft ? SoftTimeout : null;
}
