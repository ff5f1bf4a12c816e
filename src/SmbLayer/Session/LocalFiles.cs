using Microsoft.Win32.SafeHandles;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>
/// "Download this open into that file": a plain local file that the READs of one open may put their data straight
/// into (Linux splice through the link's reader, Transport/ZeroCopy), past this process's memory. An answer the
/// transport cannot splice (signed, encrypted, a compound) arrives as usual, and the caller writes it with
/// <see cref="WriteAsync"/>. The file's handle is held until <see cref="Dispose"/>.
/// </summary>
internal sealed class DownloadFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private int _released;

    private DownloadFile(SafeFileHandle handle, long fileBase)
    {
        _handle = handle;
        FileBase = fileBase;
    }

    /// <summary>The local offset of the remote file's byte 0.</summary>
    public long FileBase { get; }

    /// <summary>
    /// The target for a download into <paramref name="destination"/>, whose current position takes the remote
    /// file's byte at <paramref name="remotePosition"/>; null unless it is a plain local file open for writing at
    /// offsets (not append-only) and zero-copy is on. The caller has flushed the stream.
    /// </summary>
    public static DownloadFile? TryOpen(Stream destination, long remotePosition)
    {
        if (!SplicePipe.IsSupported || destination.GetType() != typeof(FileStream)
            || destination is not FileStream { CanWrite: true, CanSeek: true } file
            || file.SafeFileHandle.IsClosed || SplicePipe.IsAppendOnly(file.SafeFileHandle))
        {
            return null;
        }
        var handle = file.SafeFileHandle;
        var added = false;
        handle.DangerousAddRef(ref added);
        return new DownloadFile(handle, file.Position - remotePosition);
    }

    /// <summary>Starts a READ of <paramref name="open"/> whose data may land in this file at its offset.</summary>
    public FileRead Read(SmbOpen open, long offset, int length, CancellationToken cancellationToken)
    {
        var sink = new FileSink(_handle, FileBase + offset, length);
        return new FileRead(open.ReadBufferAsync(offset, length, cancellationToken, sink), sink);
    }

    /// <summary>Writes data that arrived the usual way (not into the file) at the remote offset it was read from.</summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, long remoteOffset, CancellationToken cancellationToken) =>
        RandomAccess.WriteAsync(_handle, data, FileBase + remoteOffset, cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _handle.DangerousRelease();
        }
    }
}

/// <summary>
/// One READ into a <see cref="DownloadFile"/>. Its answer says whether the data went into the file
/// (<see cref="ReadData.InFile"/>). After <see cref="Detach"/> returns nothing more lands in the file from it, so a
/// cancelled or abandoned read never writes there afterwards.
/// </summary>
internal sealed class FileRead(Task<ReadData> answer, FileSink sink)
{
    public Task<ReadData> Answer { get; } = answer;

    public void Detach() => sink.Detach();
}

/// <summary>
/// "Upload from that file": a plain local file whose bytes WRITEs of one open send straight from the page cache
/// (sendfile by the link's writer, Transport/ZeroCopy), possible only where the tree's requests are neither signed
/// nor encrypted (those need the bytes in memory). The owner calls <see cref="Release"/>; a span taken from it keeps
/// the file open until it is released too.
/// </summary>
internal sealed class UploadFile
{
    private readonly SendFile _file;

    private UploadFile(SendFile file) => _file = file;

    /// <summary>The source for an upload from <paramref name="source"/> through <paramref name="open"/>; null where sendfile cannot be used.</summary>
    public static UploadFile? TryOpen(Stream source, SmbOpen open) =>
        SplicePipe.IsSupported && source.GetType() == typeof(FileStream) && source is FileStream { CanRead: true, CanSeek: true } file
        && open.Tree.Context is { Signer: null, Transform: null } && SendFile.TryOpen(file) is { } sendFile
            ? new UploadFile(sendFile)
            : null;

    /// <summary><paramref name="length"/> bytes of the file from <paramref name="at"/>, owned by the caller until released.</summary>
    public FileSpan Take(long at, int length) => new(_file.Range(at, length));

    public void Release() => _file.Release();
}

/// <summary>A range of an <see cref="UploadFile"/>, sent by <see cref="WriteAsync"/>; the owner releases it once written or failed.</summary>
internal readonly struct FileSpan
{
    private readonly FileRange _range;

    internal FileSpan(FileRange range) => _range = range;

    public int Length => _range.Length;

    /// <summary>Writes the span's bytes from <paramref name="done"/> on at <paramref name="offset"/> in one WRITE; returns the count the server took.</summary>
    public Task<int> WriteAsync(SmbOpen open, long offset, int done, CancellationToken cancellationToken) =>
        done == 0
            ? open.WriteAsync(offset, _range, cancellationToken)
            : WriteRestAsync(open, offset, _range.File.Range(_range.Offset + done, _range.Length - done), cancellationToken);

    private static async Task<int> WriteRestAsync(SmbOpen open, long offset, FileRange rest, CancellationToken cancellationToken)
    {
        try
        {
            return await open.WriteAsync(offset, rest, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            rest.Release();
        }
    }

    public void Release() => _range.Release();
}
