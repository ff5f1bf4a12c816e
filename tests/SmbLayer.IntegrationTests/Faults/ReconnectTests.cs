using System.Diagnostics;
using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// What a caller sees when the connection fails under it, against real Samba behind a fault proxy.
/// Each row of docs/SEMANTICS.md names the test here that proves it.
/// </summary>
[Collection("samba-faults")]
public sealed class ReconnectTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    [SambaTheory]
    [InlineData(SmbDialect.Smb311)]
    [InlineData(SmbDialect.Smb302)]
    [InlineData(SmbDialect.Smb210)]
    [InlineData(SmbDialect.Smb202)]
    public async Task Reset_MidRead_Hard_DurableHandleReclaimed_ByteExact(SmbDialect dialect)
    {
        var name = NewFile("reset-read", 24 * 1024 * 1024, out var data);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard, configure: o => o.MaxDialect = dialect);
        var lost = 0;
        var restored = 0;
        client.ConnectionLost += (_, _) => Interlocked.Increment(ref lost);
        client.ConnectionRestored += (_, _) => Interlocked.Increment(ref restored);
        var handleLost = new List<string>();
        client.HandleLost += (_, e) => handleLost.Add(e.Reason);

        await using (var stream = await client.OpenReadAsync(Url(proxy, name)))
        {
            var back = await ReadAllAsync(stream, 4 * 1024 * 1024, () =>
            {
                proxy.ResetAll();
                return Task.CompletedTask;
            });
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
        }
        Assert.Empty(handleLost);
        Assert.True(lost >= 1 && restored >= 1, $"lost {lost}, restored {restored}");
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task Reset_DurableOplockedHandle_Reclaimed_LaterOplockBreakStillDeliveredAndAcknowledged()
    {
        // SMB 2.0.2 (no leases): a durable handle (DHnQ) with a batch oplock, reclaimed after a reset, comes back with a new
        // FileId. The next oplock break names that FileId; it must still reach the open and be acknowledged,
        // or the other opener waits for Samba's break timeout.
        var name = NewFile("oplock-reclaim", 1000, out _);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var holder = NewClient(SmbFailureMode.Hard, configure: o => o.MaxDialect = SmbDialect.Smb202);
        var restored = 0;
        holder.ConnectionRestored += (_, _) => Interlocked.Increment(ref restored);
        using var lease = await holder.AcquireTreeAsync(SmbPath.Parse(Url(proxy, "")), default);
        var received = new TaskCompletionSource<SmbLayer.Session.BreakNotice>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Tree.Breaks!.Register(n => received.TrySetResult(n));
        await using var open = await lease.Tree.CreateAsync(new CreateRequest(name)
        {
            DesiredAccess = AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAccess.Read | ShareAccess.Write | ShareAccess.Delete,
            CreateOptions = CreateOptions.NonDirectoryFile,
            RequestedOplockLevel = OplockLevel.Batch,
        }, lease.Call, HandleDurability.Durable, default);
        Assert.Equal(OplockLevel.Batch, open.CreateResponse.OplockLevel);
        Assert.True(open.Durable.IsDurable, "Samba granted no durable handle");
        var before = open.FileId;

        proxy.ResetAll();
        for (var i = 0; i < 600 && (Volatile.Read(ref restored) == 0 || open.ReclaimCount == 0) && !open.IsLost; i++)
        {
            await Task.Delay(50);
        }
        Assert.False(open.IsLost, "the durable handle was lost");
        Assert.Equal(1, open.ReclaimCount);
        Assert.NotEqual(before, open.FileId); // Samba hands out a new volatile id on reconnect

        // A second client (straight to the server) opening the file makes Samba break the batch oplock.
        await using var other = NewClient(SmbFailureMode.Soft);
        var secondOpen = other.OpenReadAsync(Server.Url(name));
        var notice = await received.Task.WaitAsync(Bound);
        Assert.Equal(open.FileId, notice.FileId);
        Assert.Same(open, notice.Open);
        await using (await secondOpen.WaitAsync(Bound))
        {
        }
        for (var i = 0; i < 600 && open.LastBreakAcknowledgment is null; i++)
        {
            await Task.Delay(50);
        }
        Assert.Equal(NtStatus.Success, open.LastBreakAcknowledgment);
    }

    [SambaFact]
    public async Task Reset_NonDurableHandle_HandleLost_OnlyItsUsersFail()
    {
        var name = NewFile("lost", 48 * 1024 * 1024, out _);
        var other = NewFile("other", 1000, out _);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard, configure: o => o.DurableHandles = false);
        var lostEvents = new List<SmbHandleLostEventArgs>();
        client.HandleLost += (_, e) => { lock (lostEvents) { lostEvents.Add(e); } };
        var writeName = $"lost-write-{Guid.NewGuid():N}.bin";
        await using var reader = await client.OpenReadAsync(Url(proxy, name));
        var writer = await client.OpenWriteAsync(Url(proxy, writeName));
        await reader.ReadExactlyAsync(new byte[64 * 1024]);
        await writer.WriteAsync(new byte[100]);
        proxy.ResetAll();

        // The handle's own users get a typed handle-lost error on their next call (after what was already read ahead)...
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var buffer = new byte[1024 * 1024];
            while (await reader.ReadAsync(buffer) > 0)
            {
            }
        });
        Assert.True(error is SmbHandleLostException, error.ToString());
        // ...data handed to a write that was never acknowledged is reported as not written (here on Dispose)...
        var notWritten = await Assert.ThrowsAsync<IOException>(async () => await writer.DisposeAsync());
        Assert.Contains("not known to be written", notWritten.Message, StringComparison.Ordinal);
        // ...and nobody else fails: the connection and other files are fine.
        Assert.Equal(1000, (await client.GetInfoAsync(Url(proxy, other))).Size);
        lock (lostEvents)
        {
            Assert.Contains(lostEvents, e => e.Path == name);
        }
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task Reset_MidWrite_Hard_DurableHandleReclaimed_ByteExact()
    {
        var name = $"reset-write-{Guid.NewGuid():N}.bin";
        var data = RandomNumberGenerator.GetBytes(24 * 1024 * 1024);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard);
        await using (var stream = await client.OpenWriteAsync(Url(proxy, name)))
        {
            for (var offset = 0; offset < data.Length; offset += 1024 * 1024)
            {
                await stream.WriteAsync(data.AsMemory(offset, 1024 * 1024));
                if (offset == 6 * 1024 * 1024)
                {
                    proxy.ResetAll();
                }
            }
        }
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(Server.LocalPath(name))));
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task Reset_WhileIdle_NextCallsSucceed_Soft()
    {
        var name = NewFile("reset-idle", 1000, out _);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Soft, TimeSpan.FromSeconds(10));
        await client.GetInfoAsync(Url(proxy, name));
        proxy.ResetAll();
        var info = await client.GetInfoAsync(Url(proxy, name));
        Assert.Equal(1000, info.Size);
        Assert.Equal(1, client.PooledConnectionCount);
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task Reset_MidListing_ListingCompletes_EachNameOnce()
    {
        var folder = $"reset-list-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        for (var i = 0; i < 3000; i++)
        {
            File.WriteAllBytes(Path.Combine(Server.LocalPath(folder), $"n{i:D4}"), []);
        }
        await using var proxy = FaultProxy.Start(Server.Port);
        // Small listing buffers so the listing takes many round trips and the reset lands mid-way.
        await using var client = NewClient(SmbFailureMode.Hard);
        var names = new List<string>();
        await foreach (var e in client.ListAsync(Url(proxy, folder)))
        {
            names.Add(e.Name);
            if (names.Count == 1000)
            {
                proxy.ResetAll();
            }
        }
        Assert.Equal(3000, names.Count);
        Assert.Equal(3000, names.Distinct().Count());
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task ServerDown_ThenBack_Hard_ResumesWithinBound()
    {
        var name = NewFile("down", 8 * 1024 * 1024, out var data);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard);
        var restoredAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ConnectionRestored += (_, _) => restoredAt.TrySetResult(Stopwatch.GetTimestamp());
        long backAt = 0;
        await using (var stream = await client.OpenReadAsync(Url(proxy, name)))
        {
            var back = await ReadAllAsync(stream, 1024 * 1024, async () =>
            {
                // The server "goes down": connections reset, new ones refused, for 3 s.
                proxy.Refuse();
                proxy.ResetAll();
                await Task.Delay(TimeSpan.FromSeconds(3));
                backAt = Stopwatch.GetTimestamp();
                proxy.Restore();
            });
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
        }
        var resumeDelay = Stopwatch.GetElapsedTime(backAt, await restoredAt.Task.WaitAsync(Bound));
        // Target ≤ 1 s from the server being reachable to recovered; the bound is about twice that.
        Assert.True(resumeDelay < TimeSpan.FromSeconds(2), $"recovered {resumeDelay.TotalMilliseconds:0} ms after the server came back");
        Console.WriteLine($"MEASURE resume-after-server-back {resumeDelay.TotalMilliseconds:0} ms");
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task BlackHole_MidRead_Hard_CompletesAfterRestore_ByteExact()
    {
        var name = NewFile("bh-hard", 8 * 1024 * 1024, out var data);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard, configure: FastLiveness);
        await using (var stream = await client.OpenReadAsync(Url(proxy, name)))
        {
            var back = await ReadAllAsync(stream, 1024 * 1024, () =>
            {
                proxy.BlackHole();
                _ = Task.Delay(TimeSpan.FromSeconds(4)).ContinueWith(_ => proxy.Restore(), TaskScheduler.Default);
                return Task.CompletedTask;
            });
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
        }
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task BlackHole_Permanent_Soft_FailsWithTimeoutError_ThenRecoversForLaterCalls()
    {
        var name = NewFile("bh-soft", 8 * 1024 * 1024, out _);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Soft, TimeSpan.FromSeconds(2), FastLiveness);
        var stream = await client.OpenReadAsync(Url(proxy, name));
        var buffer = new byte[1024 * 1024];
        await stream.ReadExactlyAsync(buffer);
        proxy.BlackHole();
        var sw = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }).WaitAsync(Bound);
        sw.Stop();
        Assert.IsType<SmbTimeoutException>(error);
        Assert.Contains("soft timeout", error.Message, StringComparison.Ordinal);
        // Detection (≈0.5 s silence + 1 s unanswered ECHO) plus the 2 s soft timeout; bound about twice that.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), $"failed after {sw.Elapsed.TotalSeconds:0.0} s");
        Console.WriteLine($"MEASURE soft-failure-after-blackhole {sw.Elapsed.TotalMilliseconds:0} ms (probe 0.5 s, echo 1 s, soft 2 s)");

        // Reconnecting goes on: once the network is back, new calls work (the old handle is reclaimed or lost, not leaked).
        proxy.Restore();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                await client.GetInfoAsync(Url(proxy, name));
                break;
            }
            catch (SmbTimeoutException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
        await stream.DisposeAsync();
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task SilentLoss_DefaultLiveness_DetectedWithinBound()
    {
        var name = NewFile("detect", 4 * 1024 * 1024, out _);
        // The READ below is held by the black-hole and reaches the old smbd only as the old connection closes. Were it
        // the file's first read since it was written, the kernel (relatime) would change the file's atime after
        // Samba recorded the disconnected durable handle, and Samba would refuse the reclaim ("st_ex_atime differs …
        // denying durable reconnect"; SEMANTICS "A READ delivered late"). This test is about detection: read once first.
        _ = File.ReadAllBytes(Server.LocalPath(name));
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard); // default ProbeDelay 2 s, EchoTimeout 5 s
        var lostAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ConnectionLost += (_, _) => lostAt.TrySetResult(Stopwatch.GetTimestamp());
        await using var stream = await client.OpenReadAsync(Url(proxy, name));
        proxy.BlackHole();
        var start = Stopwatch.GetTimestamp();
        var read = stream.ReadAsync(new byte[4096]).AsTask();
        var detection = Stopwatch.GetElapsedTime(start, await lostAt.Task.WaitAsync(Bound));
        Console.WriteLine($"MEASURE detection-default-liveness {detection.TotalMilliseconds:0} ms");
        // SEMANTICS: the ECHO goes out after 2 s of silence, the link is dead 5 s after it, both judged on 250 ms ticks:
        // 7–7.5 s after the last byte (measured 7.2 s). The upper bound leaves 1 s for a loaded machine and still fails if
        // either default doubled (probe delay 4 s: at least 9 s; echo timeout 10 s: at least 12 s), well inside the
        // documented ≤ 10 s. The lower one fails if the loss were called before the ECHO had its 5 s.
        Assert.True(detection >= TimeSpan.FromSeconds(6.5) && detection <= TimeSpan.FromSeconds(8.5),
            $"detected after {detection.TotalSeconds:0.00} s; expected 7–7.5 s (2 s probe delay + 5 s echo timeout + a 250 ms tick), at most 8.5 s");
        proxy.Restore();
        Assert.True(await read.WaitAsync(Bound) > 0);
    }

    [SambaFact]
    public async Task SlowButAlive_ServerDelaysEverything_NoFalseAlarm()
    {
        var name = NewFile("slow", 256 * 1024, out var data);
        await using var proxy = FaultProxy.Start(Server.Port);
        // Probe after 0.5 s of silence; the echo timeout (3 s) leaves room for a 1.6 s round trip on a loaded
        // machine (with a 1 s timeout the test depended on scheduling luck and failed now and then).
        await using var client = NewClient(SmbFailureMode.Soft, TimeSpan.FromSeconds(2), o =>
        {
            o.ProbeDelay = TimeSpan.FromMilliseconds(500);
            o.EchoTimeout = TimeSpan.FromSeconds(3);
        });
        var lost = 0;
        client.ConnectionLost += (_, _) => Interlocked.Increment(ref lost);
        await client.GetInfoAsync(Url(proxy, name));
        // Every chunk now takes 0.8 s each way: every round trip is longer than the probe delay, so ECHOs go out
        // while requests wait, and every one is answered (late, but within the echo timeout).
        proxy.Delay = TimeSpan.FromMilliseconds(800);
        var back = new MemoryStream();
        await client.DownloadAsync(Url(proxy, name), back);
        Assert.Equal(data, back.ToArray());
        Assert.Equal(0, lost);
    }

    [SambaFact]
    public async Task ShareClosedByServer_NetworkNameDeleted_TreeReconnected()
    {
        var name = NewFile("closeshare", 1000, out _);
        await using var client = NewClient(SmbFailureMode.Soft, TimeSpan.FromSeconds(10));
        await client.GetInfoAsync(Server.Url(name));
        var (rc, _, stderr) = await ProcessRunner.RunAsync("smbcontrol", ["--configfile=" + Server.ConfigFile, "smbd", "close-share", Server.Share], TimeSpan.FromSeconds(20));
        Assert.True(rc == 0, stderr);
        await Task.Delay(300);
        var info = await client.GetInfoAsync(Server.Url(name));
        Assert.Equal(1000, info.Size);
    }
}
