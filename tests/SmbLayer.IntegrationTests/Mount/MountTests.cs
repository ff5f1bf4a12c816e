using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace SmbLayer.IntegrationTests.Mount;

/// <summary>
/// A mounted share (issue 19) against Samba, through FUSE: a device node made with mknod in a temporary directory
/// (nothing is written under /dev), a mount point there too, unmounted at the end whatever happens. git, tar, fio and
/// dbench load both cores: the class runs alone, after the parallel collections, so timing tests elsewhere are not
/// starved by it.
/// </summary>
[Collection(MountCollection.Name)]
public sealed class MountTests(DefaultSambaFixture fixture) : IClassFixture<DefaultSambaFixture>, IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("smb-mount-").FullName;

    private SambaServer Server => fixture.Server;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    /// <summary>A mounted share and the task serving it; disposing unmounts (lazily if busy) and waits for the task.</summary>
    private sealed class Mounted : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        public required string Path { get; init; }
        public required SmbClient Client { get; init; }
        public Task Serving { get; set; } = Task.CompletedTask;
        public CancellationToken Stop => _stop.Token;

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            try
            {
                await Serving.WaitAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                if (File.ReadAllText("/proc/mounts").Contains(" " + Path + " ", StringComparison.Ordinal))
                {
                    await ProcessRunner.RunAsync("umount", ["-l", Path], TimeSpan.FromSeconds(10));
                }
                await Client.DisposeAsync();
                _stop.Dispose();
            }
        }
    }

    private async Task<Mounted> MountAsync(string pathInShare = "", bool readOnly = false, SmbClientOptions? options = null, int? port = null)
    {
        var device = Path.Combine(_scratch, "fuse");
        if (!File.Exists(device))
        {
            var mknod = await ProcessRunner.RunAsync("mknod", [device, "c", "10", "229"], TimeSpan.FromSeconds(10));
            Assert.True(mknod.ExitCode == 0, mknod.StdErr);
        }
        var directory = Directory.CreateDirectory(Path.Combine(_scratch, "mnt-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        options ??= new SmbClientOptions();
        options.Credentials = new SmbCredentials(Server.UserName, Server.Password);
        var mounted = new Mounted { Path = directory, Client = new SmbClient(options) };
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var url = port is { } p ? $"smb://{Server.Host}:{p}/{Server.Share}/{pathInShare}" : Server.Url(pathInShare);
        mounted.Serving = SmbMount.RunAsync(mounted.Client, SmbPath.Parse(url), directory,
            new SmbMountOptions { Device = device, ReadOnly = readOnly }, up.SetResult, mounted.Stop);
        await Task.WhenAny(up.Task, mounted.Serving).WaitAsync(TimeSpan.FromSeconds(30));
        if (mounted.Serving.IsFaulted)
        {
            await mounted.Serving; // its error
        }
        return mounted;
    }

    [SambaFact]
    public async Task ReadAndList_TheShareAsFiles()
    {
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 5);
        Server.WriteShareFile("m-read/big.bin", data);
        Server.WriteShareFile("m-read/small.txt", "hello");
        Server.CreateShareDirectory("m-read/sub");
        await using var mount = await MountAsync();
        var dir = Path.Combine(mount.Path, "m-read");
        Assert.Equal(["big.bin", "small.txt", "sub"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.True(Directory.Exists(Path.Combine(dir, "sub")));
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(dir, "big.bin")));
        Assert.Equal("hello", await File.ReadAllTextAsync(Path.Combine(dir, "small.txt")));
        Assert.Equal(data.Length, new FileInfo(Path.Combine(dir, "big.bin")).Length);
        Assert.False(File.Exists(Path.Combine(dir, "none")));
    }

    [SambaFact]
    public async Task Write_Create_Append_Truncate_Rename_Unlink_Mkdir_Rmdir_Mtime_OnTheServer()
    {
        Server.CreateShareDirectory("m-write");
        await using var mount = await MountAsync();
        var dir = Path.Combine(mount.Path, "m-write");
        var data = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 123);
        await File.WriteAllBytesAsync(Path.Combine(dir, "a.bin"), data);
        Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath("m-write/a.bin")));

        await File.WriteAllTextAsync(Path.Combine(dir, "log.txt"), "one\n");
        await File.AppendAllTextAsync(Path.Combine(dir, "log.txt"), "two\n");
        Assert.Equal("one\ntwo\n", await File.ReadAllTextAsync(Server.LocalPath("m-write/log.txt")));

        await using (var stream = new FileStream(Path.Combine(dir, "a.bin"), FileMode.Open, FileAccess.ReadWrite))
        {
            stream.SetLength(1000);
        }
        Assert.Equal(1000, new FileInfo(Server.LocalPath("m-write/a.bin")).Length);

        File.Move(Path.Combine(dir, "a.bin"), Path.Combine(dir, "b.bin"));
        Assert.False(File.Exists(Server.LocalPath("m-write/a.bin")));
        Assert.Equal(data[..1000], await File.ReadAllBytesAsync(Server.LocalPath("m-write/b.bin")));
        Assert.Equal(data[..1000], await File.ReadAllBytesAsync(Path.Combine(dir, "b.bin")));

        var when = new DateTime(2020, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(Path.Combine(dir, "b.bin"), when);
        Assert.Equal(when, File.GetLastWriteTimeUtc(Server.LocalPath("m-write/b.bin")));

        Directory.CreateDirectory(Path.Combine(dir, "d1", "d2"));
        Assert.True(Directory.Exists(Server.LocalPath("m-write/d1/d2")));
        Assert.ThrowsAny<IOException>(() => Directory.Delete(Path.Combine(dir, "d1"))); // not empty
        Directory.Delete(Path.Combine(dir, "d1", "d2"));
        Directory.Delete(Path.Combine(dir, "d1"));
        Assert.False(Directory.Exists(Server.LocalPath("m-write/d1")));

        File.Delete(Path.Combine(dir, "b.bin"));
        Assert.False(File.Exists(Server.LocalPath("m-write/b.bin")));
    }

    [SambaFact]
    public async Task ReadDir_TenThousandEntries()
    {
        var folder = Server.CreateShareDirectory("m-many");
        for (var i = 0; i < 10_000; i++)
        {
            File.WriteAllBytes(Path.Combine(folder, $"f{i:D5}.txt"), []);
        }
        await using var mount = await MountAsync();
        var names = Directory.EnumerateFiles(Path.Combine(mount.Path, "m-many")).Select(Path.GetFileName).ToList();
        Assert.Equal(10_000, names.Count);
        Assert.Equal(10_000, names.Distinct().Count());
        var ls = await ProcessRunner.RunAsync("ls", ["-l", Path.Combine(mount.Path, "m-many")], TimeSpan.FromSeconds(120));
        Assert.True(ls.ExitCode == 0, ls.StdErr);
        Assert.Equal(10_001, ls.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // "total" and one line each
    }

    [SambaFact]
    public async Task ASubdirectory_AsTheRoot_AndReadOnly_RefusesChanges()
    {
        Server.WriteShareFile("m-ro/inside.txt", "only this");
        await using var mount = await MountAsync("m-ro", readOnly: true);
        Assert.Equal(["inside.txt"], Directory.EnumerateFileSystemEntries(mount.Path).Select(Path.GetFileName));
        Assert.Equal("only this", await File.ReadAllTextAsync(Path.Combine(mount.Path, "inside.txt")));
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(mount.Path, "new.txt"), "no"));
        Assert.ThrowsAny<Exception>(() => File.AppendAllText(Path.Combine(mount.Path, "inside.txt"), "no"));
        Assert.Equal("only this", await File.ReadAllTextAsync(Server.LocalPath("m-ro/inside.txt")));
    }

    [SambaFact]
    public async Task Git_InitAddCommit_ASmallTree()
    {
        await using var mount = await MountAsync();
        var repo = Directory.CreateDirectory(Path.Combine(mount.Path, "m-git")).FullName;
        File.WriteAllText(Path.Combine(repo, "a.txt"), "hello\n");
        Directory.CreateDirectory(Path.Combine(repo, "sub"));
        File.WriteAllText(Path.Combine(repo, "sub", "b.txt"), "world\n");
        foreach (var args in new[]
        {
            new[] { "init", "-q", "." },
            ["add", "."],
            ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "first"],
            ["fsck", "--no-progress"],
        })
        {
            var git = await ProcessRunner.RunAsync("git", ["-C", repo, .. args], TimeSpan.FromSeconds(120));
            Assert.True(git.ExitCode == 0, $"git {string.Join(' ', args)}: {git.StdOut}{git.StdErr}");
        }
        var log = await ProcessRunner.RunAsync("git", ["-c", "safe.directory=*", "-C", Server.LocalPath("m-git"), "log", "--format=%s", "--name-only"],
            TimeSpan.FromSeconds(60));
        Assert.True(log.ExitCode == 0, log.StdErr); // the server's copy is a good repository
        Assert.Contains("sub/b.txt", log.StdOut, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task Tar_ExtractsAFewThousandFiles_AsTheyWere()
    {
        var source = Directory.CreateDirectory(Path.Combine(_scratch, "tar-source")).FullName;
        for (var d = 0; d < 15; d++)
        {
            Directory.CreateDirectory(Path.Combine(source, $"d{d}"));
            for (var f = 0; f < 140; f++)
            {
                File.WriteAllText(Path.Combine(source, $"d{d}", $"f{f}.txt"), $"file {d} {f}\n");
            }
        }
        var archive = Path.Combine(_scratch, "tree.tar");
        Assert.Equal(0, (await ProcessRunner.RunAsync("tar", ["-C", source, "-cf", archive, "."], TimeSpan.FromSeconds(60))).ExitCode);
        await using var mount = await MountAsync();
        var target = Directory.CreateDirectory(Path.Combine(mount.Path, "m-tar")).FullName;
        var tar = await ProcessRunner.RunAsync("tar", ["-C", target, "-xf", archive], TimeSpan.FromSeconds(300));
        Assert.True(tar.ExitCode == 0, tar.StdErr);
        var extracted = Directory.EnumerateFiles(Server.LocalPath("m-tar"), "*", SearchOption.AllDirectories).ToList();
        Assert.Equal(15 * 140, extracted.Count);
        Assert.Equal("file 14 139\n", File.ReadAllText(Server.LocalPath("m-tar/d14/f139.txt")));
    }

    [SambaFact]
    public async Task Fio_WriteAndVerify_Crc32c_Direct()
    {
        await using var mount = await MountAsync();
        var dir = Directory.CreateDirectory(Path.Combine(mount.Path, "m-fio")).FullName;
        var fio = await ProcessRunner.RunAsync("fio", ["--name=verify", $"--directory={dir}", "--rw=write", "--bs=1M", "--size=32M",
            "--verify=crc32c", "--do_verify=1", "--direct=1", "--ioengine=psync"], TimeSpan.FromSeconds(300));
        Assert.True(fio.ExitCode == 0, fio.StdOut + fio.StdErr);
        Assert.Contains("err= 0", fio.StdOut, StringComparison.Ordinal);
        Assert.Equal(32 * 1024 * 1024, new FileInfo(Server.LocalPath("m-fio/verify.0.0")).Length);
    }

    [SambaFact]
    public async Task Dbench_AShortRun()
    {
        await using var mount = await MountAsync();
        var dir = Directory.CreateDirectory(Path.Combine(mount.Path, "m-dbench")).FullName;
        var dbench = await ProcessRunner.RunAsync("dbench", ["-D", dir, "-t", "5", "2"], TimeSpan.FromSeconds(120));
        Assert.True(dbench.ExitCode == 0, dbench.StdOut + dbench.StdErr);
        Assert.Contains("Throughput", dbench.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("ERROR", dbench.StdOut, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task Hard_ConnectionKilledMidRead_ByteExact()
    {
        var data = RandomNumberGenerator.GetBytes(48 * 1024 * 1024);
        Server.WriteShareFile("m-hard/big.bin", data);
        await using var proxy = Faults.FaultProxy.Start(Server.Port);
        await using var mount = await MountAsync(options: new SmbClientOptions { FailureMode = SmbFailureMode.Hard }, port: proxy.Port);
        using var hash = SHA256.Create();
        await using (var stream = new FileStream(Path.Combine(mount.Path, "m-hard", "big.bin"), FileMode.Open, FileAccess.Read, FileShare.Read, 0))
        {
            var buffer = new byte[1024 * 1024];
            long total = 0;
            var killed = false;
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                hash.TransformBlock(buffer, 0, n, null, 0);
                total += n;
                if (!killed && total >= 8 * 1024 * 1024)
                {
                    killed = true;
                    proxy.ResetAll(); // the connection dies under the read: reconnect, durable handle reclaimed
                }
            }
            Assert.True(killed);
            Assert.Equal(data.Length, total);
        }
        hash.TransformFinalBlock([], 0, 0);
        Assert.Equal(SHA256.HashData(data), hash.Hash);
    }

    [SambaFact]
    public async Task Soft_ServerSilent_ReadFailsWithEio_ThenTheMountServesAgain()
    {
        Server.WriteShareFile("m-soft/f.txt", "still here");
        await using var proxy = Faults.FaultProxy.Start(Server.Port);
        await using var mount = await MountAsync(options: new SmbClientOptions
        {
            FailureMode = SmbFailureMode.Soft,
            SoftTimeout = TimeSpan.FromSeconds(3),
            ProbeDelay = TimeSpan.FromSeconds(1),
            EchoTimeout = TimeSpan.FromSeconds(2),
        }, port: proxy.Port);
        var file = Path.Combine(mount.Path, "m-soft", "f.txt");
        Assert.Equal("still here", await File.ReadAllTextAsync(file));
        proxy.BlackHole();
        var error = await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllTextAsync(Path.Combine(mount.Path, "m-soft", "other.txt")));
        Assert.Contains("Input/output error", error.Message, StringComparison.Ordinal);
        proxy.Restore();
        Server.WriteShareFile("m-soft/back.txt", "served again");
        string? back = null;
        for (var i = 0; i < 100 && back is null; i++)
        {
            try
            {
                back = await File.ReadAllTextAsync(Path.Combine(mount.Path, "m-soft", "back.txt"));
            }
            catch (IOException)
            {
                await Task.Delay(100); // reconnecting
            }
        }
        Assert.Equal("served again", back);
    }

    [SambaFact]
    public async Task Hard_ReaderBlockedOnASilentServer_Sigint_EndsWithin3s_NoHandleLeftOnTheServer()
    {
        var name = $"interrupted-{Guid.NewGuid():N}.txt";
        Server.WriteShareFile($"m-int/{name}", "behind the outage");
        await using var proxy = Faults.FaultProxy.Start(Server.Port);
        await using var mount = await MountAsync(options: new SmbClientOptions
        {
            FailureMode = SmbFailureMode.Hard,
            ProbeDelay = TimeSpan.FromSeconds(1),
            EchoTimeout = TimeSpan.FromSeconds(2),
        }, port: proxy.Port);
        Assert.True(Directory.Exists(Path.Combine(mount.Path, "m-int")));
        proxy.BlackHole();
        using var cat = Process.Start(new ProcessStartInfo(TestPrograms.Require("cat"), Path.Combine(mount.Path, "m-int", name))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.False(cat.HasExited, "cat ended while the server was silent (hard mount)");
            var clock = Stopwatch.StartNew();
            Assert.Equal(0, Signals.Send(cat.Id, Signals.Interrupt));
            await cat.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"cat took {clock.Elapsed.TotalSeconds:0.0} s to end after SIGINT");
        }
        finally
        {
            if (!cat.HasExited)
            {
                cat.Kill();
            }
        }
        proxy.Restore();
        // Once back, the mount serves again, and the server holds no handle of the interrupted open.
        string? text = null;
        for (var i = 0; i < 150 && text is null; i++)
        {
            try
            {
                text = await File.ReadAllTextAsync(Path.Combine(mount.Path, "m-int", name));
            }
            catch (IOException)
            {
                await Task.Delay(100);
            }
        }
        Assert.Equal("behind the outage", text);
        var opens = -1;
        for (var i = 0; i < 50 && opens != 0; i++)
        {
            await Task.Delay(200);
            opens = await Server.CountServerOpensAsync(name) + await Server.CountOpenFilesAsync();
        }
        Assert.True(opens == 0, $"the server still holds {opens} open(s):\n{await Server.SmbStatusAsync()}");
    }

    [SambaFact]
    public async Task Cli_Background_ReturnsOnceMounted_TheServerEndsWithTheUnmount()
    {
        Server.WriteShareFile("m-bg/c.txt", "served in the background");
        var device = Path.Combine(_scratch, "fuse-bg");
        Assert.Equal(0, (await ProcessRunner.RunAsync("mknod", [device, "c", "10", "229"], TimeSpan.FromSeconds(10))).ExitCode);
        var directory = Directory.CreateDirectory(Path.Combine(_scratch, "mnt-bg")).FullName;
        var psi = SmbProgram.StartInfo(["mount", "--background", $"smb://{Server.UserName}@{Server.Host}:{Server.Port}/{Server.Share}/", directory]);
        psi.Environment["SMB_PASSWORD"] = Server.Password;
        psi.Environment["SMB_FUSE_DEVICE"] = device;
        try
        {
            var started = await SmbProgram.RunAsync(psi, TimeSpan.FromSeconds(60));
            Assert.True(started.ExitCode == 0, started.Stderr);
            Assert.Contains(" mounted on " + directory, started.Stderr, StringComparison.Ordinal);
            Assert.Contains(" " + directory + " ", File.ReadAllText("/proc/mounts"), StringComparison.Ordinal);
            Assert.Equal("served in the background", await File.ReadAllTextAsync(Path.Combine(directory, "m-bg", "c.txt")));

            var umount = await ProcessRunner.RunAsync("umount", [directory], TimeSpan.FromSeconds(20));
            Assert.True(umount.ExitCode == 0, umount.StdErr);
            var deadline = Stopwatch.StartNew();
            while (ServingProcesses(directory).Count > 0 && deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100);
            }
            Assert.Empty(ServingProcesses(directory));
        }
        finally
        {
            foreach (var pid in ServingProcesses(directory))
            {
                Signals.Send(pid, Signals.Kill);
            }
            if (File.ReadAllText("/proc/mounts").Contains(" " + directory + " ", StringComparison.Ordinal))
            {
                await ProcessRunner.RunAsync("umount", ["-l", directory], TimeSpan.FromSeconds(10));
            }
        }
    }

    /// <summary>Processes whose command line names <paramref name="mountPoint"/> (the background smb mount).</summary>
    private static List<int> ServingProcesses(string mountPoint)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != Environment.ProcessId)
            {
                try
                {
                    var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                    if (cmdline.Contains("mount") && cmdline.Contains(mountPoint))
                    {
                        found.Add(pid);
                    }
                }
                catch (IOException)
                {
                    // gone meanwhile
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }
        return found;
    }

    [SambaFact]
    public async Task AnOpenNotReclaimed_FailsWithEio_ForItsOwnDescriptorOnly()
    {
        var data = RandomNumberGenerator.GetBytes(4 * 1024 * 1024);
        Server.WriteShareFile("m-lost/a.bin", data);
        Server.WriteShareFile("m-lost/b.txt", "unaffected");
        await using var proxy = Faults.FaultProxy.Start(Server.Port);
        await using var mount = await MountAsync(options: new SmbClientOptions { FailureMode = SmbFailureMode.Hard }, port: proxy.Port);
        await using var held = new FileStream(Path.Combine(mount.Path, "m-lost", "a.bin"), FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        await held.ReadExactlyAsync(new byte[4096]);

        // The connection dies and stays down while the file changes on the server: Samba then refuses the reclaim.
        proxy.Refuse();
        proxy.ResetAll();
        await Task.Delay(500);
        File.SetLastWriteTimeUtc(Server.LocalPath("m-lost/a.bin"), DateTime.UtcNow.AddMinutes(-5));
        proxy.Restore();

        held.Position = 3 * 1024 * 1024; // past what the kernel read ahead
        var error = await Assert.ThrowsAnyAsync<IOException>(async () => await held.ReadExactlyAsync(new byte[65536]));
        Assert.Contains("Input/output error", error.Message, StringComparison.Ordinal);
        // Everything else goes on. (The same file opened anew waits: Samba keeps the refused handle, and its lease, until
        // the durable timeout.)
        Assert.Equal("unaffected", await File.ReadAllTextAsync(Path.Combine(mount.Path, "m-lost", "b.txt")));
    }

    [SambaFact]
    public async Task UnmountedFromOutside_TheServingTaskEnds()
    {
        var mount = await MountAsync();
        await using (mount)
        {
            Assert.True(Directory.Exists(mount.Path));
            var umount = await ProcessRunner.RunAsync("umount", [mount.Path], TimeSpan.FromSeconds(20));
            Assert.True(umount.ExitCode == 0, umount.StdErr);
            await mount.Serving.WaitAsync(TimeSpan.FromSeconds(20));
        }
    }

    [SambaTheory]
    [InlineData(2)] // SIGINT
    [InlineData(15)] // SIGTERM
    public async Task Cli_MountInTheForeground_CatThroughIt_ASignalUnmountsAndExits0(int signal)
    {
        Server.WriteShareFile("m-cli/c.txt", "through the mount");
        var device = Path.Combine(_scratch, $"fuse-cli-{signal}");
        Assert.Equal(0, (await ProcessRunner.RunAsync("mknod", [device, "c", "10", "229"], TimeSpan.FromSeconds(10))).ExitCode);
        var directory = Directory.CreateDirectory(Path.Combine(_scratch, $"mnt-cli-{signal}")).FullName;
        var psi = SmbProgram.StartInfo(["mount", $"smb://{Server.UserName}@{Server.Host}:{Server.Port}/{Server.Share}/", directory]);
        psi.Environment["SMB_PASSWORD"] = Server.Password;
        psi.Environment["SMB_FUSE_DEVICE"] = device;
        psi.RedirectStandardError = true;
        psi.RedirectStandardOutput = true;
        using var process = Process.Start(psi)!;
        try
        {
            var deadline = Stopwatch.StartNew();
            while (!File.ReadAllText("/proc/mounts").Contains(" " + directory + " ", StringComparison.Ordinal))
            {
                if (process.HasExited)
                {
                    Assert.Fail($"smb mount ended ({process.ExitCode}): {await process.StandardError.ReadToEndAsync()}");
                }
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "not mounted within 30 s");
                await Task.Delay(50);
            }
            Assert.Equal("through the mount", await File.ReadAllTextAsync(Path.Combine(directory, "m-cli", "c.txt")));
            Assert.Equal(0, Signals.Send(process.Id, signal));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(process.ExitCode == 0, await process.StandardError.ReadToEndAsync());
            Assert.DoesNotContain(" " + directory + " ", File.ReadAllText("/proc/mounts"), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            if (File.ReadAllText("/proc/mounts").Contains(" " + directory + " ", StringComparison.Ordinal))
            {
                await ProcessRunner.RunAsync("umount", ["-l", directory], TimeSpan.FromSeconds(10));
            }
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MountCollection
{
    public const string Name = "fuse-mount";
}

