namespace SmbLayer;

/// <summary>Why a connection was lost or restored.</summary>
public sealed class SmbConnectionEventArgs(string server, string reason) : EventArgs
{
    /// <summary>host:port.</summary>
    public string Server { get; } = server;

    public string Reason { get; } = reason;
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
