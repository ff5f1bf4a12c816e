using SmbLayer.Protocol;

namespace SmbLayer.Tests.Client;

/// <summary>
/// The file stream (read-ahead, write-behind) over a <see cref="ScriptedFileServer"/>: what it returns when the
/// server answers less than asked, after seeks across what read-ahead fetched, and where a failed WRITE surfaces.
/// </summary>
public class SmbFileStreamTests
{
    private static readonly TimeSpan Bound = ScriptedFileServer.Bound;

    /// <summary>READs of 4 KiB (the smallest the stream makes), so a few dozen KiB span many READs and a whole read-ahead window.</summary>
    private static SmbClientOptions SmallIo()
    {
        var options = ScriptedFileServer.ClientOptions();
        options.MaxIoSize = 4096;
        return options;
    }

    /// <summary>Bytes that differ from one offset to the next, so data from the wrong offset cannot pass for the right.</summary>
    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Bound);
        return buffer;
    }

    /// <summary>Reads until the stream returns 0, one bounded ReadAsync at a time.</summary>
    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var all = new MemoryStream();
        var buffer = new byte[3000];
        int n;
        while ((n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound)) > 0)
        {
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }

    // ---- short reads and end of file ----

    [Fact]
    public async Task ShortRead_ServerAnswersLessThanAsked_ReturnsWhatCame_NextReadAsksFromWhereItEnded()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(20000);
        server.ReadLength = (offset, asked) => offset == 0 ? 1000 : asked; // only the first READ comes back short
        await using var client = new SmbClient(SmallIo());
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        var buffer = new byte[4096];
        var n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound);
        Assert.Equal(1000, n);
        Assert.Equal(server.Content[..1000], buffer[..1000]);
        Assert.Equal(1000, stream.Position);

        // The READs read ahead at 4096, 8192... followed a short answer: the stream asks again from 1000.
        var rest = await ReadToEndAsync(stream);
        Assert.Equal(server.Content[1000..], rest);
        Assert.Contains(server.Requests, s => s.Is(Smb2Command.Read) && s.Offset == 1000);
        Assert.Equal(server.Content.Length, stream.Position);
    }

    [Fact]
    public async Task ShortRead_FileShorterThanItsSizeAtOpen_EndOfFileStatusEndsTheStreamAfterTheLastByte()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(5000);
        server.EndOfFileAtOpen = 16384; // it shrank after the open: READs past 5000 get STATUS_END_OF_FILE
        await using var client = new SmbClient(SmallIo());
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        Assert.Equal(server.Content, await ReadToEndAsync(stream));
        Assert.Equal(5000, stream.Position);
        // The stream asked exactly where the data ended, and the server said end of file there.
        Assert.Contains(server.Requests, s => s.Is(Smb2Command.Read) && s.Offset == 5000);
        // Reading on at the end still gives 0, not an error.
        Assert.Equal(0, await stream.ReadAsync(new byte[10]).AsTask().WaitAsync(Bound));
    }

    // ---- seeks across read-ahead ----

    [Fact]
    public async Task Seek_BackwardIntoConsumedReadAhead_ReadsTheBytesAtTheNewPosition()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(64 * 1024);
        await using var client = new SmbClient(SmallIo());
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        // The first read starts 8 READs of 4 KiB: 0..32 KiB is read ahead, 0..6000 consumed.
        Assert.Equal(server.Content[..6000], await ReadExactlyAsync(stream, 6000));
        Assert.Equal(100, stream.Seek(100, SeekOrigin.Begin));
        Assert.Equal(server.Content[100..3100], await ReadExactlyAsync(stream, 3000));
        stream.Position = 3000;
        Assert.Equal(server.Content[3000..12000], await ReadExactlyAsync(stream, 9000));
        Assert.Equal(11000, stream.Seek(-1000, SeekOrigin.Current));
        Assert.Equal(server.Content[11000..12000], await ReadExactlyAsync(stream, 1000));
    }

    [Fact]
    public async Task Seek_ForwardWithinAndPastReadAhead_ReadsTheBytesAtTheNewPosition_NothingStale()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(64 * 1024);
        await using var client = new SmbClient(SmallIo());
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        Assert.Equal(server.Content[..1000], await ReadExactlyAsync(stream, 1000));
        // Within the window read ahead (0..32 KiB), off a chunk boundary.
        stream.Position = 20000;
        Assert.Equal(server.Content[20000..25000], await ReadExactlyAsync(stream, 5000));
        // Past everything read ahead so far.
        Assert.Equal(50000, stream.Seek(50000, SeekOrigin.Begin));
        Assert.Equal(server.Content[50000..52000], await ReadExactlyAsync(stream, 2000));
        Assert.Contains(server.Requests, s => s.Is(Smb2Command.Read) && s.Offset == 50000);
        // Back into a range read ahead twice before, then dropped.
        stream.Position = 24000;
        Assert.Equal(server.Content[24000..30000], await ReadExactlyAsync(stream, 6000));
        // From the end: the last bytes, then end of file.
        Assert.Equal(server.Content.Length - 100, stream.Seek(-100, SeekOrigin.End));
        Assert.Equal(server.Content[^100..], await ReadToEndAsync(stream));
    }

    // ---- write failures: never lost ----

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WriteFailure_ServerFailsAWrite_FlushThrowsNamingTheStatus(bool async)
    {
        await using var server = ScriptedFileServer.Start();
        server.WriteStatus = (offset, _) => offset == 4096 ? NtStatus.DiskFull : NtStatus.Success;
        await using var client = new SmbClient(SmallIo());
        var stream = await client.OpenWriteAsync(server.Location("share", "out.bin")).WaitAsync(Bound);

        var data = Pattern(10000);
        await stream.WriteAsync(data).AsTask().WaitAsync(Bound);
        var error = async
            ? await Assert.ThrowsAsync<IOException>(() => stream.FlushAsync().WaitAsync(Bound))
            : await Assert.ThrowsAsync<IOException>(() => Task.Run(stream.Flush).WaitAsync(Bound));
        var status = Assert.IsAssignableFrom<SmbStatusException>(error.InnerException);
        Assert.Equal(NtStatus.DiskFull, status.Status);
        Assert.Contains("STATUS_DISK_FULL", error.Message, StringComparison.Ordinal);
        Assert.Contains("not known to be written", error.Message, StringComparison.Ordinal);

        // The failure stays: the bytes are still not written, so closing reports it again.
        await Assert.ThrowsAsync<IOException>(() => stream.DisposeAsync().AsTask().WaitAsync(Bound));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WriteFailure_BufferedDataFailsAtDispose_DisposeThrows_HandleStillClosed(bool async)
    {
        await using var server = ScriptedFileServer.Start();
        server.WriteStatus = (_, _) => NtStatus.DiskFull;
        await using var client = new SmbClient(SmallIo());
        var stream = await client.OpenWriteAsync(server.Location("share", "out.bin")).WaitAsync(Bound);

        // Less than one WRITE's worth: nothing goes to the server until the stream is disposed.
        await stream.WriteAsync(Pattern(1000)).AsTask().WaitAsync(Bound);
        Assert.DoesNotContain(server.Requests, s => s.Is(Smb2Command.Write));
        var error = async
            ? await Assert.ThrowsAsync<IOException>(() => stream.DisposeAsync().AsTask().WaitAsync(Bound))
            : await Assert.ThrowsAsync<IOException>(() => Task.Run(stream.Dispose).WaitAsync(Bound));
        Assert.Equal(NtStatus.DiskFull, Assert.IsAssignableFrom<SmbStatusException>(error.InnerException).Status);
        Assert.Contains(server.Requests, s => s.Is(Smb2Command.Write) && s.Offset == 0 && s.Length == 1000);
        await server.WaitForAsync(Smb2Command.Close);
    }

    [Fact]
    public async Task WriteFailure_AnsweredBeforeDispose_DisposeAsyncStillThrows()
    {
        await using var server = ScriptedFileServer.Start();
        server.WriteStatus = (_, _) => NtStatus.DiskFull;
        await using var client = new SmbClient(SmallIo());
        var stream = await client.OpenWriteAsync(server.Location("share", "out.bin")).WaitAsync(Bound);

        // One full WRITE's worth goes out at once; wait until its failure has come back (an empty write reports it).
        await stream.WriteAsync(Pattern(4096)).AsTask().WaitAsync(Bound);
        using (var deadline = new CancellationTokenSource(Bound))
        {
            while (true)
            {
                try
                {
                    await stream.WriteAsync(ReadOnlyMemory<byte>.Empty);
                }
                catch (IOException)
                {
                    break;
                }
                await Task.Delay(10, deadline.Token);
            }
        }

        // Every WRITE is answered and nothing is buffered, but one failed: Dispose must not close as if all were well.
        var error = await Assert.ThrowsAsync<IOException>(() => stream.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(NtStatus.DiskFull, Assert.IsAssignableFrom<SmbStatusException>(error.InnerException).Status);
    }
}
