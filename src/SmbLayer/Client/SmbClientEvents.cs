namespace SmbLayer;

/// <summary>A connection was lost, or restored after a loss.</summary>
public sealed class SmbConnectionEventArgs(string server, SmbConnectionLossReason reason, string message) : EventArgs
{
    /// <summary>host:port.</summary>
    public string Server { get; } = server;

    /// <summary>Why the connection was lost (for a restored connection: why it had been lost).</summary>
    public SmbConnectionLossReason Reason { get; } = reason;

    /// <summary>What happened, in words: the error that ended the connection, or how it was restored.</summary>
    public string Message { get; } = message;
}

/// <summary>An open file whose handle could not be reclaimed after a reconnect.</summary>
public sealed class SmbHandleLostEventArgs(string server, string share, string path, string reason) : EventArgs
{
    public string Server { get; } = server;
    public string Share { get; } = share;

    /// <summary>Path inside the share ('\' separated, as sent to the server).</summary>
    public string Path { get; } = path;

    public string Reason { get; } = reason;
}
