using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// A local file opened a second time for sending its bytes to the socket with <c>sendfile(2)</c>
/// (through <see cref="System.Net.Sockets.Socket.SendPacketsAsync"/>, which wants a FileStream
/// opened for asynchronous I/O). Shared by the WRITEs that send its ranges; the file is closed when
/// the owner and every <see cref="FileRange"/> have let go, so closing the caller's own stream early
/// never pulls the file from under a WRITE still queued.
/// </summary>
internal sealed class SendFile
{
    private int _references = 1;

    private SendFile(FileStream stream) => Stream = stream;

    public FileStream Stream { get; }

    /// <summary>
    /// The file behind <paramref name="source"/>, opened again (Linux: through /proc/self/fd, so the same
    /// file even if it was renamed or deleted meanwhile); null where that is not possible (the caller then
    /// reads the file as usual).
    /// </summary>
    public static SendFile? TryOpen(FileStream source)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var handle = source.SafeFileHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var path = $"/proc/self/fd/{(int)handle.DangerousGetHandle()}";
            return new SendFile(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, FileOptions.Asynchronous));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    public FileRange Range(long offset, int count)
    {
        Interlocked.Increment(ref _references);
        return new FileRange(this, offset, count);
    }

    /// <summary>Lets go of one reference (the owner's, or a range's); the last closes the file.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Stream.Dispose();
        }
    }
}

/// <summary>Bytes <see cref="Offset"/>..+<see cref="ExternalPayload.Length"/> of a <see cref="SendFile"/>: a WRITE's data, sent straight from the file.</summary>
internal sealed class FileRange(SendFile file, long offset, int count) : ExternalPayload
{
    public SendFile File { get; } = file;

    public long Offset { get; } = offset;

    public override int Length { get; } = count;

    public override void ReadInto(Span<byte> destination)
    {
        var done = 0;
        while (done < Length)
        {
            var n = RandomAccess.Read(File.Stream.SafeFileHandle, destination[done..Length], Offset + done);
            if (n == 0)
            {
                throw ShortFile();
            }
            done += n;
        }
    }

    /// <summary>Whether the file still holds the whole range (a send that failed because it did not is the file's fault, not the socket's).</summary>
    public bool FileHoldsRange()
    {
        try
        {
            return RandomAccess.GetLength(File.Stream.SafeFileHandle) >= Offset + Length;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            return false;
        }
    }

    public IOException ShortFile() =>
        new($"The local file ended before the {Length} bytes at offset {Offset} that were to be uploaded (was it truncated meanwhile?).");

    /// <summary>The WRITE is done with these bytes (answered, or failed for good).</summary>
    public void Release() => File.Release();
}
