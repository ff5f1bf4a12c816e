using SmbLayer.Protocol;

namespace SmbLayer.Tests.Client;

/// <summary>
/// What a server's listing can make the client hold (docs/SECURITY.md, "Memory a server can make us hold"): a listing
/// streams and keeps a fingerprint per name, at most <see cref="SmbClient.DefaultListingNameLimit"/>; <c>get -r</c>
/// hands files to the transfers as the walk finds them.
/// </summary>
public class ListingBoundsTests
{
    private static readonly TimeSpan Bound = ScriptedFileServer.Bound;

    /// <summary>A listing that never ends: page <paramref name="page"/> holds <paramref name="perPage"/> new names of <paramref name="length"/> characters.</summary>
    private static List<(string, bool, long)> EndlessPage(int page, int perPage, int length = 12, bool directories = false) =>
        [.. Enumerable.Range(0, perPage).Select(i => ($"{page:D6}-{i:D4}-".PadRight(length, 'x'), directories, 5L))];

    /// <summary>
    /// 60,000 names of 255 characters from a listing that never ends: the client's memory grows by a fingerprint per name
    /// (about 24 bytes), not by the names (about 530 bytes each, 30 MB here, as when every name was kept).
    /// </summary>
    [Fact]
    public async Task EndlessListing_LongNames_MemoryGrowsByFingerprintsNotNames()
    {
        await using var server = ScriptedFileServer.Start();
        server.Listing = (_, page) => EndlessPage(page, 1000, length: 255);
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        var listing = client.ListAsync(server.Location("share", "dir")).GetAsyncEnumerator();
        await using (listing)
        {
            long baseline = 0;
            for (var n = 1; n <= 60_000; n++)
            {
                Assert.True(await listing.MoveNextAsync().AsTask().WaitAsync(Bound));
                if (n == 5_000)
                {
                    baseline = GC.GetTotalMemory(forceFullCollection: true);
                }
            }
            var grown = GC.GetTotalMemory(forceFullCollection: true) - baseline;
            Assert.True(grown < 12 << 20, $"memory grew by {grown / 1024} KiB over 55,000 names");
        }
    }

    /// <summary>
    /// Past the limit the listing goes on streaming, but a restart (the directory's handle lost in a reconnect) could not
    /// tell which names it returned: it fails with <see cref="SmbHandleLostException"/> rather than repeat any.
    /// </summary>
    [Fact]
    public async Task PastTheNameLimit_Streams_ThenAHandleLossFailsTyped()
    {
        await using var server = ScriptedFileServer.Start();
        server.Listing = (_, page) => EndlessPage(page, 500);
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions()) { ListingNameLimit = 1000 };
        var listing = client.ListAsync(server.Location("share", "dir")).GetAsyncEnumerator();
        await using (listing)
        {
            for (var n = 0; n < 1500; n++)
            {
                Assert.True(await listing.MoveNextAsync().AsTask().WaitAsync(Bound));
            }
            server.DropConnection();
            var error = await Assert.ThrowsAsync<SmbHandleLostException>(async () =>
            {
                // Bounded: a listing that restarted and went on would never end.
                for (var more = 0; more < 10_000 && await listing.MoveNextAsync().AsTask().WaitAsync(Bound); more++)
                {
                }
            });
            Assert.Contains("cannot go on without repeating names", error.Message);
        }
    }

    /// <summary>The twin: under the limit, a handle loss mid-listing restarts the scan and each name comes once.</summary>
    [Fact]
    public async Task UnderTheNameLimit_HandleLoss_RestartsAndEachNameComesOnce()
    {
        await using var server = ScriptedFileServer.Start();
        server.Listing = (_, page) => page < 3 ? EndlessPage(page, 300) : null;
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions()) { ListingNameLimit = 1000 };
        var names = new List<string>();
        await foreach (var entry in client.ListAsync(server.Location("share", "dir")))
        {
            names.Add(entry.Name);
            if (names.Count == 300)
            {
                server.DropConnection();
            }
        }
        Assert.Equal(900, names.Count);
        Assert.Equal(900, names.Distinct().Count());
    }

    /// <summary>
    /// A name no file can have (a separator or a NUL in it, or empty) would make a caller's path name another file, or make
    /// <c>get -r</c> fail untyped in the local file API: the listing fails with <see cref="SmbProtocolException"/> naming it.
    /// Found by the listing fuzz driver (a NUL in a name ended <c>get -r</c> in an <see cref="ArgumentException"/>).
    /// </summary>
    [Theory]
    [InlineData("a\0b", "a\\u0000b")]
    [InlineData("../up", "../up")]
    [InlineData("a\\b", "a\\b")]
    public async Task ImpossibleName_FailsTheListingTyped(string name, string shown)
    {
        await using var server = ScriptedFileServer.Start();
        server.Listing = (_, page) => page == 0 ? [("fine", false, 1L), (name, false, 1L)] : null;
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        var seen = new List<string>();
        var error = await Assert.ThrowsAsync<SmbProtocolException>(async () =>
        {
            await foreach (var entry in client.ListAsync(server.Location("share", "dir")).WithCancellation(default))
            {
                seen.Add(entry.Name);
            }
        });
        Assert.Equal(["fine"], seen);
        Assert.Contains($"\"{shown}\"", error.Message);
    }

    /// <summary>
    /// <c>get -r</c> of a directory whose listing never ends: files are downloaded while the walk goes on, and the walk
    /// stays a few files ahead of the transfers (before, it listed the whole tree first, here for ever).
    /// </summary>
    [Fact]
    public async Task DownloadDirectory_EndlessListing_TransfersStartAndTheWalkStaysClose()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = "hello"u8.ToArray();
        server.Listing = (path, page) => path.Length == 0 ? EndlessPage(page, 100) : null;
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        var target = Directory.CreateTempSubdirectory("smb-getr-");
        try
        {
            using var cts = new CancellationTokenSource();
            var download = client.DownloadDirectoryAsync(server.Location("share"), target.FullName, maxConcurrency: 4, cts.Token);
            await server.WaitUntilAsync(seen => seen.Count(s => s.Is(Smb2Command.Read)) >= 40, "40 files read");
            // 40 read, 4 × 4 queued and 4 in flight: the walk cannot be more than a page or two ahead (100 names a page).
            Assert.InRange(server.ListingPages, 1, 3);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => download.WaitAsync(Bound));
            Assert.Equal("hello", File.ReadAllText(Path.Combine(target.FullName, "000000-0000-".PadRight(12, 'x'))));
        }
        finally
        {
            target.Delete(recursive: true);
        }
    }
}
