using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// The bounded soak (issue 16): many clients, each with its own connection through one fault proxy, run a mixed
/// workload (write, read back and compare, list, stat, delete) against Samba in hard mode while a random fault hits
/// every few seconds: a reset of every connection, a black-hole, the server down (refused) for a while, or every
/// serving smbd terminated. Afterwards: no error beyond the documented ones (a handle not reclaimed, an outcome
/// unknown), every read byte-exact, and nothing left open on the server, its own open table included. The suite runs
/// 60 s with 64 clients; <c>bench/soak.sh</c> runs the long one (SMBLAYER_SOAK_SECONDS, SMBLAYER_SOAK_CLIENTS,
/// SMBLAYER_SOAK_FAULT_SECONDS). Client memory is sampled and printed, not asserted (speed and memory are measured in
/// benchmarks, never asserted in the suite).
/// </summary>
[Collection("samba-faults")]
public sealed class SoakTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : fallback;

    private enum Fault
    {
        ResetAll,
        BlackHole,
        ServerDown,
        SmbdTerminated,
    }

    /// <summary>What the run saw; counters shared by the clients.</summary>
    private sealed class Tally
    {
        public readonly ConcurrentDictionary<string, int> Operations = new();
        public readonly ConcurrentDictionary<string, int> Documented = new();
        public readonly ConcurrentQueue<string> Unexpected = new();
        public readonly ConcurrentQueue<string> Mismatches = new();

        public void Count(ConcurrentDictionary<string, int> into, string key) => into.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    [SambaFact]
    public async Task Soak_ClientsUnderRandomFaults_OnlyDocumentedErrors_DataExact_NothingLeftOpen()
    {
        var duration = TimeSpan.FromSeconds(Setting("SMBLAYER_SOAK_SECONDS", 60));
        var clients = Setting("SMBLAYER_SOAK_CLIENTS", 64);
        var faultEvery = TimeSpan.FromSeconds(Setting("SMBLAYER_SOAK_FAULT_SECONDS", 20));
        var seed = Setting("SMBLAYER_SOAK_SEED", 20261207);
        var folder = $"soak-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        var tally = new Tally();
        var faults = new List<string>();
        var memory = new List<string>();
        await using var proxy = FaultProxy.Start(Server.Port);
        var end = Stopwatch.StartNew();

        var workers = Enumerable.Range(0, clients)
            .Select(id => Task.Run(() => RunClientAsync(id, proxy, folder, duration, end, new Random(seed + id), tally)))
            .ToArray();
        var all = Task.WhenAll(workers);
        var rng = new Random(seed);
        var order = Enum.GetValues<Fault>().OrderBy(_ => rng.Next()).ToArray(); // each kind in turn, in a random order
        var nextFault = faultEvery;
        var nextSample = TimeSpan.Zero;
        try
        {
            while (!all.IsCompleted && end.Elapsed < duration)
            {
                if (end.Elapsed >= nextSample)
                {
                    var settled = nextSample.TotalSeconds % 60 == 0;
                    if (settled)
                    {
                        // Once a minute, what is live after a full compacting collection (large objects too): growth
                        // here is a leak; growth only in the samples between is the collector keeping memory it may reuse.
                        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                    }
                    using var self = Process.GetCurrentProcess();
                    var gc = GC.GetGCMemoryInfo();
                    memory.Add($"{end.Elapsed.TotalSeconds:0}s rss={self.WorkingSet64 / (1024 * 1024)}MiB managed={GC.GetTotalMemory(false) / (1024 * 1024)}MiB"
                        + $" committed={gc.TotalCommittedBytes / (1024 * 1024)}MiB threads={self.Threads.Count} handles={self.HandleCount}{(settled ? " (after a full compacting collection)" : "")}");
                    nextSample += TimeSpan.FromSeconds(5);
                }
                if (end.Elapsed >= nextFault && end.Elapsed < duration - TimeSpan.FromSeconds(8))
                {
                    var fault = order[faults.Count % order.Length];
                    faults.Add($"{end.Elapsed.TotalSeconds:0}s {fault}");
                    await InjectAsync(fault, proxy);
                    nextFault = end.Elapsed + faultEvery;
                }
                await Task.WhenAny(all, Task.Delay(250));
            }
        }
        finally
        {
            proxy.Restore();
        }
        // Hard mode: each client ends its operation in flight once the network is back; a hang fails here.
        var finished = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(90))) == all;
        var report = $"faults: {string.Join(", ", faults)}; operations: {Format(tally.Operations)}; documented errors: {Format(tally.Documented)}";
        Console.WriteLine($"MEASURE soak {clients} clients {duration.TotalSeconds:0}s fault every {faultEvery.TotalSeconds:0}s; {report}");
        Console.WriteLine($"MEASURE soak memory {string.Join("; ", memory)}");
        Assert.True(finished, $"a client was still busy 90 s after the soak ended; {report}");
        await all;
        Assert.True(tally.Unexpected.IsEmpty, $"{tally.Unexpected.Count} unexpected error(s), e.g.:\n{string.Join("\n", tally.Unexpected.Take(5))}\n{report}");
        Assert.True(tally.Mismatches.IsEmpty, $"{tally.Mismatches.Count} read(s) not byte-exact: {string.Join("; ", tally.Mismatches.Take(5))}");
        Assert.True(tally.Operations.Values.Sum() > clients, report);
        // Nothing left open by a live connection: every client closed what it opened.
        await AssertNoOpenFilesAsync();
        // Left behind by the server: Samba 4.17 keeps some disconnected durable handles in its open table, past their
        // timeout (its scavenger did not remove them here), though every call succeeded and each client closed every
        // handle it knew of. Each follows a CREATE the fault cut off: sent again with the replay flag and the same
        // CreateGuid, it is a new open to Samba 4.17 (its replay cache lives in the connection's process), and the
        // client never learns the first one's FileId. Counted, and proved harmless the way
        // another client sees it: a conflicting open (write, sharing read only) of each such file succeeds at once.
        var leftBehind = await Server.DurableOpenNamesAsync(folder);
        Assert.True(leftBehind.Count <= faults.Count * clients, $"{leftBehind.Count} opens left behind by {faults.Count} faults on {clients} clients");
        await using var other = NewClient(SmbFailureMode.Soft, TimeSpan.FromSeconds(10));
        foreach (var name in leftBehind)
        {
            await using var conflicting = await other.OpenWriteAsync(Server.Url(name)).WaitAsync(Bound);
        }
        Console.WriteLine($"MEASURE soak server opens after the run: none held by a live connection; {leftBehind.Count} disconnected durable " +
            $"after {faults.Count} faults x {clients} clients; a conflicting open of each succeeded");
    }

    private static string Format(ConcurrentDictionary<string, int> counts) =>
        counts.IsEmpty ? "none" : string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}"));

    private async Task InjectAsync(Fault fault, FaultProxy proxy)
    {
        switch (fault)
        {
            case Fault.ResetAll:
                proxy.ResetAll();
                break;
            case Fault.BlackHole:
                proxy.BlackHole();
                await Task.Delay(TimeSpan.FromSeconds(4));
                proxy.Restore();
                break;
            case Fault.ServerDown:
                proxy.Refuse();
                proxy.ResetAll();
                await Task.Delay(TimeSpan.FromSeconds(3));
                proxy.Restore();
                break;
            case Fault.SmbdTerminated:
                await TerminateServingProcessesAsync();
                break;
        }
    }

    /// <summary>One client's loop: its own files under its own prefix, each kept with its hash until deleted.</summary>
    private async Task RunClientAsync(int id, FaultProxy proxy, string folder, TimeSpan duration, Stopwatch clock, Random rng, Tally tally)
    {
        await using var client = NewClient(SmbFailureMode.Hard, configure: FastLiveness);
        // Connected before the workload: an initial connection is not retried (SEMANTICS), and 64 opened at once on a
        // loaded machine (the suite runs other collections beside this one) may miss the fast liveness bound for their
        // NEGOTIATE. What the soak measures, behaviour under faults, starts once the client is connected.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await client.GetInfoAsync(Url(proxy, folder));
                break;
            }
            catch (SmbException) when (attempt < 10 && clock.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
        }
        var known = new Dictionary<string, byte[]>(StringComparer.Ordinal); // name → SHA-256
        for (var i = 0; i < 100_000 && clock.Elapsed < duration; i++)
        {
            var roll = rng.Next(100);
            var kind = known.Count == 0 || roll < 35 ? "write" : roll < 65 ? "read" : roll < 75 ? "list" : roll < 88 ? "stat" : "delete";
            var name = kind == "write" ? $"c{id:D2}-{i}.bin" : known.Keys.ElementAt(rng.Next(known.Count));
            var url = Url(proxy, $"{folder}/{name}");
            try
            {
                switch (kind)
                {
                    case "write":
                        var data = RandomNumberGenerator.GetBytes(rng.Next(1, 512) * 1024 + rng.Next(1024));
                        known.Remove(name);
                        await using (var stream = await client.OpenWriteAsync(url))
                        {
                            await stream.WriteAsync(data);
                        }
                        known[name] = SHA256.HashData(data);
                        break;
                    case "read":
                        await using (var stream = await client.OpenReadAsync(url))
                        {
                            var hash = await SHA256.HashDataAsync(stream);
                            if (!hash.AsSpan().SequenceEqual(known[name]))
                            {
                                tally.Mismatches.Enqueue(name);
                            }
                        }
                        break;
                    case "list":
                        var listed = new HashSet<string>(StringComparer.Ordinal);
                        await foreach (var entry in client.ListAsync(Url(proxy, folder), $"c{id:D2}-*"))
                        {
                            listed.Add(entry.Name);
                        }
                        if (known.Keys.FirstOrDefault(k => !listed.Contains(k)) is { } missing)
                        {
                            tally.Mismatches.Enqueue($"{missing} missing from the listing");
                        }
                        break;
                    case "stat":
                        await client.GetInfoAsync(url);
                        break;
                    case "delete":
                        known.Remove(name);
                        await client.DeleteFileAsync(url);
                        break;
                }
                tally.Count(tally.Operations, kind);
            }
            catch (Exception ex) when (Documented(ex) is { } what)
            {
                // SEMANTICS: a handle the server would not give back, or a non-repeatable request cut off by a loss.
                // The file's state is then unknown: it leaves the known set (a later write of the name starts anew).
                tally.Count(tally.Documented, $"{kind}:{what}");
                known.Remove(name);
            }
            catch (Exception ex)
            {
                tally.Unexpected.Enqueue($"client {id} {kind} {name} at {clock.Elapsed.TotalSeconds:0.0}s: {ex.GetType().Name}: {ex.Message}");
                known.Remove(name);
            }
        }
    }

    /// <summary>The errors SEMANTICS documents for a hard call under faults, by name; null for any other.</summary>
    private static string? Documented(Exception ex) => ex switch
    {
        SmbHandleLostException => "handle-lost",
        SmbOutcomeUnknownException => "outcome-unknown",
        IOException { InnerException: SmbHandleLostException } => "handle-lost",
        _ => null,
    };
}
