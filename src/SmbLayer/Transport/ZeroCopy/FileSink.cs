using Microsoft.Win32.SafeHandles;

namespace SmbLayer.Transport;

/// <summary>
/// Where one READ's data may go straight from the socket: a local file, at an offset. The reader
/// decides per response: when the response is a plain, unsigned, unencrypted READ answer (see
/// <see cref="IMessageFamily.TryGetBulkData"/>), it splices the data into the file and completes
/// the request with the header alone (<see cref="Delivered"/>); otherwise the response comes back
/// as usual, data included, and the caller writes it.
///
/// The owner keeps <see cref="File"/> open (a reference on the handle) until it has called
/// <see cref="Detach"/>; after Detach returns, the reader writes nothing more, so a cancelled or
/// failed download never has bytes land in its file afterwards.
/// </summary>
internal sealed class FileSink(SafeFileHandle file, long fileOffset, int capacity)
{
    private readonly Lock _gate = new();
    private bool _detached;

    public SafeFileHandle File { get; } = file;

    /// <summary>File offset of the READ's first byte.</summary>
    public long FileOffset { get; } = fileOffset;

    /// <summary>Bytes the READ asked for; a longer answer is not spliced (the normal path rejects it).</summary>
    public int Capacity { get; } = capacity;

    /// <summary>True when the reader took the data: <see cref="Length"/> bytes went to the file, unless <see cref="WriteError"/> is set.</summary>
    public bool Delivered { get; private set; }

    /// <summary>Data bytes of the delivered response.</summary>
    public int Length { get; private set; }

    /// <summary>Why writing the file failed (the response's data was then dropped).</summary>
    public IOException? WriteError { get; private set; }

    public bool IsDetached
    {
        get
        {
            lock (_gate)
            {
                return _detached;
            }
        }
    }

    /// <summary>After this returns, the reader neither writes the file nor touches its handle again.</summary>
    public void Detach()
    {
        lock (_gate)
        {
            _detached = true;
        }
    }

    /// <summary>Test hook: runs on the reader, inside each write to the file (a test makes the "disk" slow with it).</summary>
    internal Action? OnWrite { get; init; }

    /// <summary>Reader: writes bytes it had already read, at <paramref name="dataOffset"/> within the READ's data.</summary>
    internal void WriteStaged(ReadOnlySpan<byte> data, int dataOffset)
    {
        lock (_gate)
        {
            if (!_detached && WriteError is null)
            {
                OnWrite?.Invoke();
                WriteError = SplicePipe.WriteToFile(File, data, FileOffset + dataOffset);
            }
        }
    }

    /// <summary>Reader: moves <paramref name="count"/> bytes the pipe holds into the file, or drops them once detached or failed.</summary>
    internal void WriteFromPipe(SplicePipe pipe, int count, int dataOffset)
    {
        lock (_gate)
        {
            if (!_detached && WriteError is null)
            {
                OnWrite?.Invoke();
                WriteError = pipe.SpliceToFile(File, FileOffset + dataOffset, count);
                return;
            }
        }
        pipe.Discard(count);
    }

    /// <summary>Reader: all <paramref name="length"/> data bytes are through; the request completes next.</summary>
    internal void MarkDelivered(int length)
    {
        Length = length;
        Delivered = true;
    }
}
