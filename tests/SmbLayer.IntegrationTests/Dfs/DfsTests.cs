using System.Text;

namespace SmbLayer.IntegrationTests.Dfs;

/// <summary>
/// Following DFS against real Samba servers (issue 18): the roots on 127.0.0.21, the target server on 127.0.0.22
/// (<see cref="DfsNamespaceFixture"/>). Each test uses its own folder on the target.
/// </summary>
[Collection(DfsNamespaceCollection.Name)]
public sealed class DfsTests(DfsNamespaceFixture dfs)
{
    private static string Url(string path) => DfsNamespaceFixture.Url(path);

    private static async Task<string> ReadAllAsync(SmbClient client, string url)
    {
        var data = new MemoryStream();
        await using (var stream = await client.OpenReadAsync(url))
        {
            await stream.CopyToAsync(data);
        }
        return Encoding.UTF8.GetString(data.ToArray());
    }

    [SambaFact]
    public async Task Read_ThroughALink_ReadsTheTargetsFile()
    {
        dfs.Target.WriteShareFile("dfs-read/a.txt", "through link1");
        await using var client = dfs.NewClient();
        Assert.Equal("through link1", await ReadAllAsync(client, Url("link1/dfs-read/a.txt")));
        Assert.Equal(1, client.DfsCacheCount);
        // Again, from the cache: the same file, and the same one referral.
        Assert.Equal("through link1", await ReadAllAsync(client, Url("link1/dfs-read/a.txt")));
        Assert.Equal(1, client.DfsCacheCount);
        var info = await client.GetInfoAsync(Url("link1/dfs-read/a.txt"));
        Assert.Equal("link1/dfs-read/a.txt", info.Path); // the path as the caller wrote it
        Assert.Equal(13, info.Size);
    }

    [SambaFact]
    public async Task List_ThroughALink_ListsTheTargetsDirectory_UnderTheCallersPath()
    {
        dfs.Target.WriteShareFile("dfs-list/one.txt", "1");
        dfs.Target.WriteShareFile("dfs-list/two.txt", "22");
        dfs.Target.CreateShareDirectory("dfs-list/sub");
        await using var client = dfs.NewClient();
        var listed = new List<SmbFileInfo>();
        await foreach (var entry in client.ListAsync(Url("link1/dfs-list")))
        {
            listed.Add(entry);
        }
        Assert.Equal(["one.txt", "sub", "two.txt"], listed.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.All(listed, e => Assert.StartsWith("link1/dfs-list/", e.Path, StringComparison.Ordinal));
    }

    [SambaFact]
    public async Task Write_Nested_Rename_Delete_ThroughALink_HappenOnTheTarget()
    {
        dfs.Target.CreateShareDirectory("dfs-write");
        await using var client = dfs.NewClient();
        await client.CreateDirectoryAsync(Url("link1/dfs-write/d1"));
        await client.CreateDirectoryAsync(Url("link1/dfs-write/d1/d2"));
        var big = new byte[3 * 1024 * 1024 + 17]; // past one compound: opened, streamed, closed
        new Random(18).NextBytes(big);
        Assert.Equal(big.Length, await client.UploadAsync(new MemoryStream(big), Url("link1/dfs-write/d1/d2/big.bin")));
        await client.UploadAsync(new MemoryStream("small"u8.ToArray()), Url("link1/dfs-write/d1/d2/small.txt"));
        Assert.Equal(big, await File.ReadAllBytesAsync(dfs.Target.LocalPath("dfs-write/d1/d2/big.bin")));
        Assert.Equal("small", await File.ReadAllTextAsync(dfs.Target.LocalPath("dfs-write/d1/d2/small.txt")));

        var back = new MemoryStream();
        Assert.Equal(big.Length, await client.DownloadAsync(Url("link1/dfs-write/d1/d2/big.bin"), back));
        Assert.Equal(big, back.ToArray());

        await client.RenameAsync(Url("link1/dfs-write/d1/d2/small.txt"), "link1/dfs-write/d1/renamed.txt");
        Assert.True(File.Exists(dfs.Target.LocalPath("dfs-write/d1/renamed.txt")));
        Assert.False(File.Exists(dfs.Target.LocalPath("dfs-write/d1/d2/small.txt")));
        await client.DeleteFileAsync(Url("link1/dfs-write/d1/renamed.txt"));
        Assert.False(File.Exists(dfs.Target.LocalPath("dfs-write/d1/renamed.txt")));
        var fs = await client.GetFileSystemInfoAsync(Url("link1/dfs-write"));
        Assert.True(fs.TotalBytes > 0);
    }

    [SambaFact]
    public async Task RootShare_OwnFiles_UseDfsPathNames()
    {
        // Files of the DFS root share itself, not behind a link: opened with DFS path names (SMB2_FLAGS_DFS_OPERATIONS).
        await using var client = dfs.NewClient();
        var name = $"root-{Guid.NewGuid():N}";
        await client.CreateDirectoryAsync(Url(name));
        await client.UploadAsync(new MemoryStream("on the root"u8.ToArray()), Url($"{name}/f.txt"));
        Assert.Equal("on the root", await ReadAllAsync(client, Url($"{name}/f.txt")));
        await client.RenameAsync(Url($"{name}/f.txt"), $"{name}/g.txt");
        Assert.Equal("on the root", await File.ReadAllTextAsync(Path.Combine(dfs.Root.Directory, "dfsroot", name, "g.txt")));
        var names = new List<string>();
        await foreach (var entry in client.ListAsync(Url("")))
        {
            names.Add(entry.Name);
        }
        Assert.Contains("link1", names);
        Assert.Contains(name, names);
        await client.DeleteFileAsync(Url($"{name}/g.txt"));
        await client.DeleteDirectoryAsync(Url(name));
        Assert.Equal(0, client.DfsCacheCount);
    }

    [SambaFact]
    public async Task Failover_FirstTargetDown_TheSecondServes_AndIsRemembered()
    {
        // link2: \\127.0.0.23\share (nothing listens there), then \\127.0.0.22\share\sub.
        dfs.Target.WriteShareFile("sub/dfs-failover.txt", "second target");
        var log = new CapturingLoggerFactory();
        await using var client = dfs.NewClient(new SmbClientOptions { LoggerFactory = log });
        Assert.Equal("second target", await ReadAllAsync(client, Url("link2/dfs-failover.txt")));
        int Failures() => log.Text.Split('\n').Count(m => m.Contains(@"target \\127.0.0.23\share failed", StringComparison.Ordinal));
        var failed = Failures();
        Assert.Equal(1, failed);
        // The next call goes straight to the target that works.
        Assert.Equal("second target", await ReadAllAsync(client, Url("link2/dfs-failover.txt")));
        Assert.Equal(failed, Failures());
    }

    [SambaFact]
    public async Task Failover_FirstTargetsShareIsGone_TheSecondServes()
    {
        // goneshare: \\127.0.0.22\gone (the server is up, the share is not there), then \\127.0.0.22\share\sub.
        dfs.Target.WriteShareFile("sub/dfs-gone.txt", "the share that exists");
        var log = new CapturingLoggerFactory();
        await using var client = dfs.NewClient(new SmbClientOptions { LoggerFactory = log });
        Assert.Equal("the share that exists", await ReadAllAsync(client, Url("goneshare/dfs-gone.txt")));
        Assert.Contains(@"target \\127.0.0.22\gone failed", log.Text, StringComparison.Ordinal);
        Assert.Contains("STATUS_BAD_NETWORK_NAME", log.Text, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task LinkToAnotherDfsRoot_IsFollowedThroughIt()
    {
        // link3 -> \\127.0.0.21\dfsroot2, whose link inner -> \\127.0.0.22\share\sub.
        dfs.Target.WriteShareFile("sub/dfs-nested/n.txt", "two roots deep");
        await using var client = dfs.NewClient();
        Assert.Equal("two roots deep", await ReadAllAsync(client, Url("link3/inner/dfs-nested/n.txt")));
        Assert.Equal(2, client.DfsCacheCount);
        await client.UploadAsync(new MemoryStream("written"u8.ToArray()), Url("link3/inner/dfs-nested/w.txt"));
        Assert.Equal("written", await File.ReadAllTextAsync(dfs.Target.LocalPath("sub/dfs-nested/w.txt")));
    }

    [SambaFact]
    public async Task LinkThatLeadsNowhere_FailsNamingThePathAndEveryTarget()
    {
        await using var client = dfs.NewClient(new SmbClientOptions { SoftTimeout = TimeSpan.FromSeconds(20) });
        var error = await Assert.ThrowsAsync<SmbDfsException>(() => ReadAllAsync(client, Url("nowhere/file.txt")));
        Assert.Equal(@"\\127.0.0.21\dfsroot\nowhere\file.txt", error.DfsPath);
        // Each target once, then the referral asked again (still the same two), each once more.
        Assert.Equal([@"\\127.0.0.23\share", @"\\127.0.0.25\share", @"\\127.0.0.23\share", @"\\127.0.0.25\share"],
            error.Attempts.Select(a => a.Target));
        Assert.All(error.Attempts, a => Assert.IsAssignableFrom<SmbConnectionException>(a.Error));
        Assert.Contains(@"\\127.0.0.21\dfsroot\nowhere\file.txt", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\127.0.0.23\share", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\127.0.0.25\share", error.Message, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task LinkThatLeadsNowhere_HardMode_KeepsTryingTheTargetsUntilTheTimeLimit()
    {
        await using var client = dfs.NewClient(new SmbClientOptions
        {
            FailureMode = SmbFailureMode.Hard,
            OperationTimeout = TimeSpan.FromSeconds(3),
        });
        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => ReadAllAsync(client, Url("nowhere/file.txt")));
        Assert.Contains(@"\\127.0.0.21\dfsroot\nowhere\file.txt", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\127.0.0.25\share", error.Message, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task Cli_CatAndLsThroughALink_AndALinkThatLeadsNowhere_Exit5()
    {
        dfs.Target.WriteShareFile("dfs-cli/c.txt", "cat through a link");
        var cat = await SmbProgram.RunAsync(dfs.Root.Password, dfs.Root.UserName, ["cat", Url("link1/dfs-cli/c.txt")]);
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.Equal("cat through a link", Encoding.UTF8.GetString(cat.Stdout));

        var ls = await SmbProgram.RunAsync(dfs.Root.Password, dfs.Root.UserName, ["ls", Url("link1/dfs-cli")]);
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains("c.txt", Encoding.UTF8.GetString(ls.Stdout), StringComparison.Ordinal);

        var nowhere = await SmbProgram.RunAsync(dfs.Root.Password, dfs.Root.UserName, ["cat", Url("nowhere/c.txt")]);
        Assert.Equal(5, nowhere.ExitCode);
        Assert.Contains(@"DFS path \\127.0.0.21\dfsroot\nowhere\c.txt", nowhere.Stderr, StringComparison.Ordinal);
        Assert.Contains(@"\\127.0.0.23\share", nowhere.Stderr, StringComparison.Ordinal);
        Assert.Contains(@"\\127.0.0.25\share", nowhere.Stderr, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task Cli_GetAndPutATree_ThroughALink()
    {
        dfs.Target.WriteShareFile("dfs-tree/a.txt", "A");
        dfs.Target.WriteShareFile("dfs-tree/sub/b.txt", "BB");
        var local = Directory.CreateTempSubdirectory("smb-dfs-tree-").FullName;
        try
        {
            var get = await SmbProgram.RunAsync(dfs.Root.Password, dfs.Root.UserName, ["get", "-r", Url("link1/dfs-tree"), Path.Combine(local, "down")]);
            Assert.True(get.ExitCode == 0, get.Stderr);
            Assert.Equal("A", await File.ReadAllTextAsync(Path.Combine(local, "down", "a.txt")));
            Assert.Equal("BB", await File.ReadAllTextAsync(Path.Combine(local, "down", "sub", "b.txt")));

            dfs.Target.CreateShareDirectory("sub/dfs-tree-up");
            var put = await SmbProgram.RunAsync(dfs.Root.Password, dfs.Root.UserName, ["put", "-r", Path.Combine(local, "down"), Url("link2/dfs-tree-up/")]);
            Assert.True(put.ExitCode == 0, put.Stderr);
            // link2's first target is down: the tree went to the second, 127.0.0.22's share\sub.
            Assert.Equal("BB", await File.ReadAllTextAsync(dfs.Target.LocalPath("sub/dfs-tree-up/down/sub/b.txt")));
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    [SambaFact]
    public async Task NotFoundThroughALink_NamesTheCallersPath_AndStaysNotFound()
    {
        await using var client = dfs.NewClient();
        var error = await Assert.ThrowsAsync<SmbNotFoundException>(() => ReadAllAsync(client, Url("link1/dfs-missing/none.txt")));
        Assert.Contains(@"\\127.0.0.21\dfsroot\link1\dfs-missing\none.txt", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\127.0.0.22\share\dfs-missing\none.txt", error.Message, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task AfterAConnectionLoss_TheReferralIsAskedAgain_TargetsMove()
    {
        dfs.Target.WriteShareFile("dfs-move.txt", "before the move");
        dfs.Target.WriteShareFile("sub/dfs-move.txt", "after the move");
        var link = Path.Combine(dfs.Root.Directory, "dfsroot", "link1");
        await using var client = dfs.NewClient();
        Assert.Equal("before the move", await ReadAllAsync(client, Url("link1/dfs-move.txt")));
        try
        {
            // The namespace's administrator moves link1; the referral we hold is still live (its TTL is minutes).
            File.Delete(link);
            File.CreateSymbolicLink(link, @"msdfs:127.0.0.22\share\sub");
            Assert.Equal("before the move", await ReadAllAsync(client, Url("link1/dfs-move.txt")));

            var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client.ConnectionLost += (_, e) =>
            {
                if (e.Server.StartsWith(DfsNamespaceFixture.TargetAddress, StringComparison.Ordinal))
                {
                    lost.TrySetResult();
                }
            };
            Assert.True(await dfs.Target.KillClientConnectionsAsync() > 0);
            await lost.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("after the move", await ReadAllAsync(client, Url("link1/dfs-move.txt")));
        }
        finally
        {
            File.Delete(link);
            File.CreateSymbolicLink(link, @"msdfs:127.0.0.22\share");
        }
    }
}
