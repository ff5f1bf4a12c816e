using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>Per-request settings the session layer hands to the transport.</summary>
internal sealed class RequestContext
{
    public ulong SessionId { get; init; }
    public uint TreeId { get; init; }

    /// <summary>Signs the request and verifies the response when not null.</summary>
    public IMessageSigner? Signer { get; init; }

    /// <summary>Encrypts the request (and requires an encrypted response) when not null; signing is then skipped.</summary>
    public IMessageTransform? Transform { get; init; }

    /// <summary>Extra header flags (e.g. DFS, replay).</summary>
    public Smb2HeaderFlags Flags { get; init; }

    /// <summary>ChannelSequence for 3.x (written in the Status field of requests).</summary>
    public ushort ChannelSequence { get; init; }

    /// <summary>Called with the exact bytes of each message as sent (pre-auth integrity).</summary>
    public Action<ReadOnlySpan<byte>>? OnSent { get; init; }

    /// <summary>Overrides the connection's request timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The deadline of the call the request belongs to (monotonic, <see cref="Environment.TickCount64"/> ms;
    /// long.MaxValue for none): the request expires by then at the latest, STATUS_PENDING extensions included.
    /// </summary>
    public long CallDeadline { get; init; } = long.MaxValue;

    /// <summary>
    /// Called on the reader loop with a successful response that arrived after the caller stopped waiting
    /// (cancelled or timed out), so the upper layer can compensate (e.g. CLOSE a handle a late CREATE opened).
    /// </summary>
    public Action<SmbResponse>? OnAbandonedResponse { get; init; }

    /// <summary>
    /// A request of connection setup or recovery (NEGOTIATE, SESSION_SETUP, TREE_CONNECT, durable
    /// reconnect): allowed while the connection is Negotiating or Reconnecting, when ordinary
    /// requests are refused.
    /// </summary>
    public bool DuringSetup { get; init; }

    /// <summary>
    /// For a READ: a local file the reader may splice the answer's data into, past user memory (Linux,
    /// plaintext connections); the response then carries the header only and the sink says what arrived.
    /// </summary>
    public FileSink? Sink { get; init; }

    /// <summary>An ECHO sent by liveness: the link notes when the server has its bytes (the probe's clock starts then).</summary>
    public bool IsProbe { get; init; }

    public static RequestContext None { get; } = new();
}
