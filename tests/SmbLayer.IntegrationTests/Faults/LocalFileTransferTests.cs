using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// Transfers between local files and the server, where on Linux READ data goes straight from the
/// socket into the file (splice) and WRITE data straight from the file to the socket (sendfile):
/// what happens when the caller gives up halfway, when the local file cannot take the data, and
/// when it no longer holds the data to send.
/// </summary>
[Collection("samba-faults")]
public sealed class LocalFileTransferTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    private const int FileSize = 16 * 1024 * 1024;

    [SambaFact]
    public async Task Cancelled_CopyIntoFile_NothingLandsInTheFileAfterwards_StreamGoesOn()
    {
        var name = NewFile("download-cancel", FileSize, out var data);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard);
        var local = Path.Combine(Path.GetTempPath(), $"smblayer-cancel-{Guid.NewGuid():N}.bin");
        try
        {
            await using var source = await client.OpenReadAsync(Url(proxy, name));
            proxy.BytesPerSecond = 4 * 1024 * 1024; // 4 s for the file; READs of 1 MiB, 8 in flight
            long copied;
            await using (var file = new FileStream(local, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 1, useAsync: true))
            {
                // Cancelled as soon as the first chunk is in the file: the other READs are still in flight.
                using var cts = new CancellationTokenSource();
                var copy = ((SmbLayer.Client.SmbFileStream)source).CopyToAsync(file, new CancelOnFirstReport(cts), cts.Token);
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => copy.WaitAsync(Bound));
                copied = source.Position;
                Assert.InRange(copied, 1, FileSize - 1); // cancelled in the middle
                var atCancel = await File.ReadAllBytesAsync(local);
                // The stream stays open, and the READs it had in flight go on arriving through the proxy: none of
                // their data may land in the file once the copy has returned.
                await Task.Delay(TimeSpan.FromSeconds(2.5));
                Assert.Equal(atCancel, await File.ReadAllBytesAsync(local));
                // What the copy consumed is in place (past it, READs answered out of order may have left holes).
                Assert.True(atCancel.Length >= copied && atCancel.AsSpan(0, (int)copied).SequenceEqual(data.AsSpan(0, (int)copied)),
                    "the bytes copied before the cancellation are not the file's start");
            }
            proxy.BytesPerSecond = 0;
            // The stream goes on from where the copy stopped, into another destination.
            var rest = new MemoryStream();
            await source.CopyToAsync(rest);
            Assert.True(rest.ToArray().AsSpan().SequenceEqual(data.AsSpan((int)copied)), "the rest of the stream differs");
            // And a download into a file after all that is byte-exact.
            File.Delete(local);
            await using (var file = new FileStream(local, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, useAsync: true))
            {
                Assert.Equal(FileSize, await client.DownloadAsync(Url(proxy, name), file));
            }
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(local)));
        }
        finally
        {
            File.Delete(local);
        }
        await AssertNoOpenFilesAsync();
    }

    private sealed class CancelOnFirstReport(CancellationTokenSource cts) : IProgress<long>
    {
        public void Report(long value) => cts.Cancel();
    }

    [SambaFact]
    public async Task LocalFileSystemFull_MidDownload_TypedIOError_ConnectionStaysUsable()
    {
        var name = NewFile("download-full", 4 * 1024 * 1024, out var data);
        // A 2 MiB tmpfs: the first READ (1 MiB, compounded with the CREATE) fits, a later one does not.
        var mount = Path.Combine(Path.GetTempPath(), $"smblayer-full-{Guid.NewGuid():N}");
        Directory.CreateDirectory(mount);
        var (code, _, stderr) = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mount], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, "mount of a small tmpfs failed (the test needs root): " + stderr);
        var lost = 0;
        try
        {
            await using var client = NewClient(SmbFailureMode.Hard);
            client.ConnectionLost += (_, _) => Interlocked.Increment(ref lost);
            var ex = await Assert.ThrowsAsync<IOException>(async () =>
            {
                await using var file = new FileStream(Path.Combine(mount, "f.bin"), FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, useAsync: true);
                await client.DownloadAsync(Server.Url(name), file);
            });
            Assert.Contains("space", ex.Message, StringComparison.OrdinalIgnoreCase);
            // A local failure is not the connection's: nothing was lost, and the next download works.
            var back = new MemoryStream();
            Assert.Equal(data.Length, await client.DownloadAsync(Server.Url(name), back));
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(back.ToArray()));
            Assert.Equal(0, lost);
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["-l", mount], TimeSpan.FromSeconds(10));
            Directory.Delete(mount, recursive: true);
        }
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task LocalFileTruncated_MidUpload_TypedIOError_NoHang_ClientStaysUsable()
    {
        var data = RandomNumberGenerator.GetBytes(FileSize);
        var local = Path.Combine(Path.GetTempPath(), $"smblayer-truncate-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(local, data);
        var name = $"upload-truncated-{Guid.NewGuid():N}.bin";
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard);
        try
        {
            await client.GetInfoAsync(Url(proxy, ""));
            proxy.BytesPerSecond = 4 * 1024 * 1024; // 4 s for the file: most WRITEs are still to be sent when it shrinks
            await using (var file = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1, useAsync: true))
            {
                var upload = client.UploadAsync(file, Url(proxy, name));
                await Task.Delay(TimeSpan.FromMilliseconds(800));
                Assert.False(upload.IsCompleted, "the upload ended before the file was truncated");
                using (var other = new FileStream(local, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
                {
                    other.SetLength(2 * 1024 * 1024);
                }
                // The upload fails with an I/O error saying the data is not known to be written; it does not hang,
                // and it is not retried for ever (the missing bytes cannot come back).
                var error = await Assert.ThrowsAsync<IOException>(() => upload.WaitAsync(Bound));
                Assert.Contains("ended before", error.ToString(), StringComparison.Ordinal);
            }
            proxy.BytesPerSecond = 0;
            // The client goes on: an upload of the same name from memory is byte-exact.
            Assert.Equal(data.Length, await client.UploadAsync(new MemoryStream(data), Url(proxy, name)));
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(Server.LocalPath(name))));
        }
        finally
        {
            File.Delete(local);
        }
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task Download_IntoFileOpenedForAppend_IsByteExact()
    {
        var name = NewFile("download-append", 3 * 1024 * 1024 + 17, out var data);
        await using var client = NewClient(SmbFailureMode.Hard);
        var local = Path.Combine(Path.GetTempPath(), $"smblayer-append-{Guid.NewGuid():N}.bin");
        var head = "existing content\n"u8.ToArray();
        try
        {
            await File.WriteAllBytesAsync(local, head);
            // O_APPEND: the kernel refuses to splice into such a file at an offset; the download writes it as usual.
            await using (var file = new FileStream(local, FileMode.Append, FileAccess.Write))
            {
                Assert.Equal(data.Length, await client.DownloadAsync(Server.Url(name), file));
            }
            var back = await File.ReadAllBytesAsync(local);
            Assert.Equal(head, back[..head.Length]);
            Assert.True(back.AsSpan(head.Length).SequenceEqual(data), "downloaded bytes differ");
        }
        finally
        {
            File.Delete(local);
        }
    }
}
