namespace SmbLayer.Transport;

/// <summary>What the connection's core loop needs to know about one incoming message.</summary>
internal readonly record struct IncomingMessageInfo(
    ulong MessageId,
    ushort CreditsGranted,
    bool IsInterim,
    ulong AsyncId,
    bool IsServerInitiated,
    uint Status,
    bool IsSigned,
    ushort Command);

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

    /// <summary>Bytes of a frame <see cref="TryGetBulkData"/> needs to see.</summary>
    int BulkPrefixSize { get; }

    /// <summary>
    /// Whether a frame of <paramref name="frameLength"/> bytes, of which <paramref name="prefix"/> holds
    /// the first (at least <see cref="BulkPrefixSize"/>), is one plaintext, successful, uncompounded
    /// answer carrying file data (SMB2: a READ response) whose data runs from <paramref name="dataOffset"/>
    /// to the end of the frame. Only then may the reader move the data past user memory into a
    /// <see cref="FileSink"/>; anything else (errors, compounds, TRANSFORM frames, odd layouts) is read whole
    /// and checked by the usual path.
    /// </summary>
    bool TryGetBulkData(ReadOnlySpan<byte> prefix, int frameLength, out ulong messageId, out int dataOffset, out int dataLength);
}
