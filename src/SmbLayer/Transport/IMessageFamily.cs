namespace SmbLayer.Transport;

/// <summary>What the connection's core loop needs to know about one incoming message.</summary>
internal readonly record struct IncomingMessageInfo(
    ulong MessageId,
    ushort CreditsGranted,
    bool IsInterim,
    ulong AsyncId,
    bool IsServerInitiated,
    uint Status,
    bool IsSigned);

/// <summary>
/// The dialect family's framing rules, kept out of the connection's core loop so the loop
/// does not hard-wire one header layout (SMB1 is planned next to SMB2).
/// </summary>
internal interface IMessageFamily
{
    /// <summary>Smallest valid message.</summary>
    int MinimumMessageSize { get; }

    /// <summary>
    /// Length of the first message in <paramref name="frame"/> (a frame may carry a compound chain);
    /// equals <c>frame.Length</c> for the last one. Throws <see cref="SmbProtocolException"/> when the chain is malformed.
    /// </summary>
    int FirstMessageLength(ReadOnlySpan<byte> frame);

    /// <summary>Parses the correlation fields of one incoming message; throws <see cref="SmbProtocolException"/> on a malformed header.</summary>
    IncomingMessageInfo Classify(ReadOnlySpan<byte> message);
}
