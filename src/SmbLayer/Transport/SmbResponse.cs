using System.Buffers;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

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
