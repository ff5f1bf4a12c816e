using System.Buffers;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>Reads a whole SMB2 message (header first) into what it says.</summary>
internal delegate T MessageParser<out T>(ReadOnlySpan<byte> message);

/// <summary>
/// One response message, held in a pooled buffer. The receiver owns it and must dispose it
/// once done with <see cref="Message"/>.
/// </summary>
internal sealed class SmbResponse : IDisposable
{
    private byte[]? _buffer;
    private readonly int _offset;
    private readonly int _length;

    public SmbResponse(byte[] pooledBuffer, int offset, int length, Smb2Header header)
    {
        _buffer = pooledBuffer;
        _offset = offset;
        _length = length;
        Header = header;
    }

    public Smb2Header Header { get; }

    /// <summary>The link that delivered it (null for responses made elsewhere, e.g. in tests).</summary>
    internal SmbLink? From { get; init; }

    /// <summary>
    /// Reads the message with <paramref name="parse"/>. A successful (or warning) answer whose body does not read is a
    /// protocol violation like any malformed input: the link it came on is dropped (reconnect, replay rules), and the
    /// parser's <see cref="SmbProtocolException"/> goes to the caller. An error answer is not the server's word on the
    /// operation's result, and its body's trouble stays with the caller.
    /// </summary>
    public T Parse<T>(MessageParser<T> parse)
    {
        try
        {
            return parse(Message);
        }
        catch (SmbProtocolException error)
        {
            ReportUnreadable(error);
            throw;
        }
    }

    /// <summary>
    /// Says that this answer could not be used (a body that does not read, a count past what was asked): when its status
    /// is a success or a warning, the link that delivered it fails as a protocol violation.
    /// </summary>
    public void ReportUnreadable(SmbProtocolException error)
    {
        if (((uint)Status >> 30) != 3)
        {
            From?.Fail(error, SmbConnectionLossReason.ProtocolViolation);
        }
    }

    public NtStatus Status => Header.NtStatus;

    /// <summary>The whole SMB2 message, header first.</summary>
    public ReadOnlySpan<byte> Message => new(_buffer ?? throw new ObjectDisposedException(nameof(SmbResponse)), _offset, _length);

    public ReadOnlyMemory<byte> MessageMemory => new(_buffer ?? throw new ObjectDisposedException(nameof(SmbResponse)), _offset, _length);

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
