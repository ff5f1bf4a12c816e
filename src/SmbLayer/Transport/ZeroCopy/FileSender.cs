using System.Net.Sockets;

namespace SmbLayer.Transport;

/// <summary>The writer's half of zero-copy: a WRITE's data sent from a local file's page cache by sendfile(2).</summary>
internal static class FileSender
{
    /// <summary>WRITE data from a local file at least this long goes by sendfile (64 KiB: a whole WRITE on 2.0.2, which has no large MTU).</summary>
    public const int Minimum = 64 * 1024;

    /// <summary>
    /// Sends <paramref name="head"/> and then <paramref name="range"/> straight from its file. Returns null when all went
    /// out, or the file's error when the file no longer holds the range (the send was cut short); throws
    /// <see cref="SocketException"/> when the socket failed.
    /// </summary>
    public static async Task<IOException?> SendAsync(Socket socket, ReadOnlyMemory<byte> head, FileRange range)
    {
        using var args = new SocketAsyncEventArgs();
        args.SendPacketsElements =
        [
            new SendPacketsElement(head),
            new SendPacketsElement(range.File.Stream, range.Offset, range.Length, endOfPacket: true),
        ];
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        args.Completed += (_, _) => done.TrySetResult();
        try
        {
            if (socket.SendPacketsAsync(args))
            {
                await done.Task.ConfigureAwait(false);
            }
        }
        catch (ObjectDisposedException) when (!range.FileHoldsRange())
        {
            // Reported below as the file's failure.
        }
        if (args.SocketError == SocketError.Success && args.BytesTransferred == head.Length + range.Length)
        {
            return null;
        }
        if (!range.FileHoldsRange())
        {
            return range.ShortFile();
        }
        throw new SocketException((int)args.SocketError);
    }
}
