namespace SmbLayer;

/// <summary>What a call does while the connection to its server is down (DESIGN §5).</summary>
public enum SmbFailureMode
{
    /// <summary>Wait through outages and reconnects until the server is back (still cancellable).</summary>
    Hard,

    /// <summary>Fail with <see cref="SmbTimeoutException"/> once the connection has been unusable for the soft timeout.</summary>
    Soft,
}
