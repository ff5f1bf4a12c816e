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
        // The stream checks first too (it then skips building a context); this one guards /proc and the statfs buffer below, sized for Linux.
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var handle = source.SafeFileHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var fd = (int)handle.DangerousGetHandle();
            if (OnNetworkFileSystem(fd))
            {
                return null;
            }
            var path = $"/proc/self/fd/{fd}";
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

    /// <summary>
    /// File systems whose reads can hang for as long as their own server is away (statfs f_type: NFS, SMB/CIFS,
    /// FUSE, 9P, Ceph, AFS, Coda, NCP). sendfile runs on the connection's writer, and a writer stuck in such a
    /// read holds up the ECHO that keeps our connection judged alive; reading those files the usual way keeps the
    /// wait in the caller's read, where it belongs.
    /// </summary>
    private static readonly long[] NetworkFileSystems =
        [0x6969, 0x517B, 0xFE534D42, 0xFF534D42, 0x65735546, 0x01021997, 0x00C36400, 0x5346414F, 0x73757245, 0x564C];

    private static bool OnNetworkFileSystem(int fd)
    {
        var buffer = new byte[128]; // struct statfs is 120 bytes on 64-bit Linux; f_type comes first
        try
        {
            if (FStatFs(fd, buffer) != 0)
            {
                return true; // unknown: the usual way
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return true;
        }
        var type = IntPtr.Size == 8 ? BitConverter.ToInt64(buffer, 0) : BitConverter.ToInt32(buffer, 0);
        return Array.IndexOf(NetworkFileSystems, type) >= 0;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static extern int FStatFs(int fd, byte[] buffer);

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
