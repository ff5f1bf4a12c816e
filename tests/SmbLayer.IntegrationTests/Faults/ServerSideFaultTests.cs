using System.Diagnostics;
using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>Faults made on the server side or in the kernel, without the proxy: iptables DROP, the per-connection smbd killed.</summary>
[Collection("samba-faults")]
public sealed class ServerSideFaultTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    [SambaFact]
    public async Task IptablesDrop_MidRead_Hard_CompletesAfterRuleRemoved_ByteExact()
    {
        var name = NewFile("iptables", 8 * 1024 * 1024, out var data);
        await using var client = NewClient(SmbFailureMode.Hard, configure: FastLiveness);
        var rule = new[] { "INPUT", "-i", "lo", "-p", "tcp", "--dport", Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-m", "comment", "--comment", $"smblayer-test-{Environment.ProcessId}", "-j", "DROP" };
        var inserted = false;
        try
        {
            await using var stream = await client.OpenReadAsync(Server.Url(name));
            var back = await ReadAllAsync(stream, 1024 * 1024, async () =>
            {
                var (rc, _, err) = await ProcessRunner.RunAsync("iptables", ["-I", .. rule], TimeSpan.FromSeconds(10));
                Assert.True(rc == 0, "iptables -I failed: " + err);
                inserted = true;
                _ = Task.Delay(TimeSpan.FromSeconds(4)).ContinueWith(async _ =>
                {
                    await ProcessRunner.RunAsync("iptables", ["-D", .. rule], TimeSpan.FromSeconds(10));
                    inserted = false;
                }, TaskScheduler.Default);
            });
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
        }
        finally
        {
            // Rules are always removed, whatever happened above.
            while (inserted)
            {
                var (rc, _, _) = await ProcessRunner.RunAsync("iptables", ["-D", .. rule], TimeSpan.FromSeconds(10));
                inserted = rc == 0;
            }
        }
        await AssertNoOpenFilesAsync();
    }

    [SambaFact]
    public async Task PerConnectionSmbdTerminated_MidWrite_Hard_ByteExact()
    {
        var name = $"killed-{Guid.NewGuid():N}.bin";
        var data = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
        await using var client = NewClient(SmbFailureMode.Hard);
        var restored = 0;
        client.ConnectionRestored += (_, _) => Interlocked.Increment(ref restored);
        var handleLost = 0;
        client.HandleLost += (_, _) => Interlocked.Increment(ref handleLost);
        await using (var stream = await client.OpenWriteAsync(Server.Url(name)))
        {
            for (var offset = 0; offset < data.Length; offset += 1024 * 1024)
            {
                await stream.WriteAsync(data.AsMemory(offset, 1024 * 1024));
                if (offset == 4 * 1024 * 1024)
                {
                    await stream.FlushAsync();
                    await TerminateServingProcessesAsync(untilGone: true);
                }
            }
        }
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(Server.LocalPath(name))));
        Assert.True(restored >= 1, "the connection was never lost and restored");
        Assert.Equal(0, handleLost);
        await AssertNoOpenFilesAsync();
    }

    /// <summary>
    /// The per-connection smbd is ended (SIGTERM) while a stream's read-ahead READs are queued in it. An exiting
    /// smbd closes its opens (keeping the durable ones for reclaim) and can then answer a READ it had already taken
    /// with STATUS_FILE_CLOSED before the connection ends. That answer is not the server's word on the handle: the
    /// read goes on after the reconnect, on the reclaimed handle, byte-exact. Several rounds, because the exiting
    /// smbd answers so only when the SIGTERM meets READs it has taken but not yet answered.
    /// </summary>
    [SambaFact]
    public async Task PerConnectionSmbdTerminated_ReadsInFlight_Hard_ByteExact()
    {
        await using var client = NewClient(SmbFailureMode.Hard);
        var restored = 0;
        client.ConnectionRestored += (_, _) => Interlocked.Increment(ref restored);
        var handleLost = 0;
        client.HandleLost += (_, _) => Interlocked.Increment(ref handleLost);
        const int Rounds = 4;
        for (var round = 0; round < Rounds; round++)
        {
            var name = NewFile($"killed-read{round}", 6 * 1024 * 1024, out var data);
            await using (var stream = await client.OpenReadAsync(Server.Url(name)))
            {
                var back = await ReadAllAsync(stream, (1 + round) * 1024 * 1024, () => TerminateServingProcessesAsync(untilGone: true));
                Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
            }
        }
        Assert.True(restored >= Rounds, $"the connection was lost and restored {restored} times, not {Rounds}");
        Assert.Equal(0, handleLost);
        await AssertNoOpenFilesAsync();
    }

    /// <summary>
    /// The meter counts the loss and the restoration of the connection (smb.client.connection.lost / .restored). The
    /// server process is ended while the connection is idle (with requests in flight, see
    /// <see cref="PerConnectionSmbdTerminated_ReadsInFlight_Hard_ByteExact"/>).
    /// </summary>
    [SambaFact]
    public async Task PerConnectionSmbdTerminated_Idle_MeterCountsLossAndRestoration()
    {
        var name = NewFile("meter", 64 * 1024, out _);
        using var meter = new SmbLayer.Tests.Transport.MeterRecorder(Server.Port);
        await using var client = NewClient(SmbFailureMode.Hard);
        Assert.Equal(64 * 1024, (await client.GetInfoAsync(Server.Url(name))).Size);
        await TerminateServingProcessesAsync(untilGone: true);
        // The next call finds the connection gone, waits for the reconnect and goes through.
        Assert.Equal(64 * 1024, (await client.GetInfoAsync(Server.Url(name))).Size);
        Assert.Equal(1, meter.Count("smb.client.connection.lost"));
        Assert.Equal(1, meter.Count("smb.client.connection.restored"));
    }

    /// <summary>
    /// Samba keeps a stat "cookie" with a disconnected durable handle and refuses the reclaim when the file's
    /// stat changed meanwhile — atime included (vfs_default_durable_reconnect_check_stat). Under relatime the
    /// first read of a file since it was written changes its atime, so one read by anyone while the handle is
    /// disconnected (or a READ the client had sent, reaching the old smbd late) costs the handle: only its users
    /// fail, with <see cref="SmbHandleLostException"/>; other calls go on.
    /// </summary>
    [SambaFact]
    public async Task DurableHandle_FileReadElsewhereWhileDisconnected_SambaRefusesReclaim_OnlyItsUsersFail()
    {
        var name = NewFile("atime", 256 * 1024, out _);
        await using var proxy = FaultProxy.Start(Server.Port);
        await using var client = NewClient(SmbFailureMode.Soft, TimeSpan.FromSeconds(10));
        var handlesLost = new System.Collections.Concurrent.ConcurrentQueue<string>();
        client.HandleLost += (_, e) => handlesLost.Enqueue(e.Reason);
        var stream = await client.OpenReadAsync(Url(proxy, name)); // durable; nothing read yet

        // The server "goes away" in an orderly way: new connections refused, the per-connection smbd terminated
        // (it disconnects the durable handle and records the file's stat).
        proxy.Refuse();
        await TerminateServingProcessesAsync();
        var sw = Stopwatch.StartNew();
        while ((await ServingProcessesAsync()).Count > 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }
        // Someone reads the file meanwhile: its atime changes (relatime: first read since it was written).
        var before = File.GetLastAccessTimeUtc(Server.LocalPath(name));
        await Task.Delay(20);
        _ = await File.ReadAllBytesAsync(Server.LocalPath(name));
        Assert.NotEqual(before, File.GetLastAccessTimeUtc(Server.LocalPath(name)));
        proxy.Restore();

        var error = await Assert.ThrowsAsync<SmbHandleLostException>(async () => await stream.ReadExactlyAsync(new byte[4096]));
        Assert.Contains("STATUS_OBJECT_NAME_NOT_FOUND", error.Message, StringComparison.Ordinal);
        Assert.Single(handlesLost);
        // smbd says why, at its default log level 1 (the fault matrix relies on this line to tell this refusal from others).
        Assert.Contains(await File.ReadAllLinesAsync(Server.LogFile), l => l.Contains($"({name}): stat_ex.st_ex_atime differs", StringComparison.Ordinal)
            && l.Contains("denying durable reconnect", StringComparison.Ordinal));
        Assert.Equal(256 * 1024, (await client.GetInfoAsync(Url(proxy, name))).Size); // the connection and other calls are fine
        await stream.DisposeAsync();
        await client.DisposeAsync();
        await AssertNoOpenFilesAsync();
    }
}
