using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// The fault matrix of docs/FAULT-MATRIX.md against real Samba: every fault × every phase × hard and
/// soft, each cell checking the documented outcome — hard, and soft with an outage shorter than the
/// soft timeout: the operation completes with exact data; soft with an outage longer than the soft
/// timeout: <see cref="SmbTimeoutException"/>, and later calls work once the fault is lifted. After
/// every cell the server holds no open file.
/// </summary>
[Collection("samba-faults")]
public sealed class FaultMatrixTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    public enum Fault
    {
        /// <summary>The proxy resets (RST) both sides of every connection.</summary>
        Reset,

        /// <summary>The proxy stops forwarding in both directions and closes nothing.</summary>
        BlackHole,

        /// <summary>iptables DROP of TCP to the server's port on lo (no proxy).</summary>
        IptablesDrop,

        /// <summary>SIGTERM to the per-connection smbd (an orderly loss).</summary>
        SmbdSigterm,
    }

    public enum Phase
    {
        /// <summary>Between calls: the connection is idle when the fault hits; the next call meets it.</summary>
        Idle,

        /// <summary>A stream read, with READs in flight (throttled through the proxy).</summary>
        MidRead,

        /// <summary>A stream write, with WRITEs in flight (throttled through the proxy).</summary>
        MidWrite,

        /// <summary>Many files created at once (OverwriteIf: durable CREATE of a stream, and CREATE+WRITE+CLOSE compounds).</summary>
        MidCreate,

        /// <summary>A listing of a directory that takes more than one QUERY_DIRECTORY.</summary>
        MidListing,

        /// <summary>
        /// A download into a local file (throttled): on Linux the reader splices READ data from the socket
        /// into the file, so the fault can cut a response in the middle of a splice.
        /// </summary>
        MidDownload,

        /// <summary>
        /// An upload from a local file (throttled): on Linux the writer sends WRITE data straight from the
        /// file (sendfile), so the fault can cut a WRITE in the middle of a sendfile.
        /// </summary>
        MidUpload,
    }

    public enum Mode
    {
        /// <summary>Hard: waits out the outage.</summary>
        Hard,

        /// <summary>Soft, 10 s, with an outage well inside it: completes.</summary>
        Soft,

        /// <summary>Soft, 2 s, with the fault held until the call has failed: <see cref="SmbTimeoutException"/>, then recovery.</summary>
        SoftExpired,
    }

    private const int FileSize = 4 * 1024 * 1024;
    private const int IoChunk = 256 * 1024;
    private const int CreateCount = 40;
    private const int CreateWorkers = 8;
    private const int ListingCount = 2500;

    /// <summary>How long a black-hole or iptables DROP lasts in the cells that expect completion: beyond detection (≈1.75 s with <see cref="FaultTestBase.FastLiveness"/>).</summary>
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan SoftTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ShortSoftTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Detection (≈1.75 s) + the 2 s soft timeout is ≈4 s; the bound is generous for a loaded 2-core machine.</summary>
    private static readonly TimeSpan SoftFailureBound = TimeSpan.FromSeconds(12);

    /// <summary>The longest a fault is ever held, whatever happens in the cell.</summary>
    private static readonly TimeSpan MaxHold = TimeSpan.FromSeconds(30);

    /// <summary>What every cell shares, made once per server: a file to read and a directory to list.</summary>
    private static readonly ConcurrentDictionary<string, Lazy<SharedFiles>> Shared = new();

    private sealed record SharedFiles(string ReadFile, byte[] ReadHash, string ListDirectory, string[] ListNames);

    public static TheoryData<Fault, Phase, Mode> Cells()
    {
        var data = new TheoryData<Fault, Phase, Mode>();
        foreach (var fault in Enum.GetValues<Fault>())
        {
            foreach (var phase in Enum.GetValues<Phase>())
            {
                data.Add(fault, phase, Mode.Hard);
                data.Add(fault, phase, Mode.Soft);
                if (fault is Fault.BlackHole or Fault.IptablesDrop)
                {
                    data.Add(fault, phase, Mode.SoftExpired); // only a lasting fault can outlive a soft timeout
                }
            }
        }
        return data;
    }

    /// <summary>The cell's client log, printed only when the cell hangs.</summary>
    private readonly CapturingLoggerFactory DiagLog = new();

    /// <summary>The client's connections, links and pending requests, read by reflection, for a hung cell's report.</summary>
    private static string Internals(SmbClient client)
    {
        var sb = new System.Text.StringBuilder();
        const System.Reflection.BindingFlags F = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public;
        object? Get(object o, string name) => o.GetType().GetField(name, F)?.GetValue(o) ?? o.GetType().GetProperty(name, F)?.GetValue(o);
        var pool = client.GetType().GetFields(F).Select(f => f.GetValue(client)).First(v => v?.GetType().Name == "ConnectionPool")!;
        var entries = (System.Collections.IDictionary)Get(pool, "_entries")!;
        foreach (var e in entries.Values)
        {
            var conn = (SmbLayer.Transport.SmbConnection)Get(e!, "Connection")!;
            sb.AppendLine($"conn state {conn.State} probe {Get(conn, "_probeSentTicks")} now {Environment.TickCount64}");
            var link = Get(conn, "_link")!;
            sb.AppendLine($"link failed {Get(link, "Failed")} lastrecv {((SmbLayer.Transport.ReceiveClock)Get(link, "Clock")!).LastReceiveTicks} progress {Get(link, "LastSendProgressTicks")} unacked {Get(link, "UnacknowledgedBytes")} written {Get(link, "_bytesWritten")} offset {Get(link, "_streamOffset")} probeEnd {Get(link, "_probeWireEnd")} probeDelivered {Get(link, "ProbeDeliveredTicks")} active {Get(link, "HasActiveRequests")} stalled {Get(link, "CreditsStalled")} credits {Get(Get(link, "_credits")!, "Balance")}");
            foreach (System.Collections.DictionaryEntry p in (System.Collections.IDictionary)Get(link, "_pending")!)
            {
                var r = p.Value!;
                sb.AppendLine($"  pending {r} wire {Get(r, "Wire")} queued {Get(r, "QueuedTicks")} sent {Get(r, "SentTicks")} wireEnd {Get(r, "WireEnd")} deadline {Get(r, "DeadlineTicks")} abandoned {Get(r, "Abandoned")} done {((System.Threading.Tasks.Task)Get(Get(r, "Completion")!, "Task")!).IsCompleted}");
            }
        }
        return sb.ToString();
    }

    [SambaTheory]
    [MemberData(nameof(Cells))]
    public async Task Matrix_OutcomeAsDocumented(Fault fault, Phase phase, Mode mode)
    {
        var cell = Stopwatch.StartNew();
        var files = SharedFilesFor();
        await using var injector = new Injector(this, fault);
        var lost = 0;
        var restored = 0;
        var handlesLost = new ConcurrentQueue<string>();
        string outcome;
        await using (var client = NewClient(mode == Mode.Hard ? SmbFailureMode.Hard : SmbFailureMode.Soft,
            mode == Mode.SoftExpired ? ShortSoftTimeout : SoftTimeout, o =>
            {
                FastLiveness(o);
                // Small I/O, few in flight: most of a 4 MiB transfer is still to come when the fault hits.
                o.MaxIoSize = IoChunk;
                o.MaxWriteSizeFromFile = IoChunk;
                o.MaxRequestsInFlightPerStream = 2;
                o.LoggerFactory = DiagLog;
            }))
        {
            client.ConnectionLost += (_, _) => Interlocked.Increment(ref lost);
            client.ConnectionRestored += (_, _) => Interlocked.Increment(ref restored);
            client.HandleLost += (_, e) => handlesLost.Enqueue($"{e.Path}: {e.Reason}");
            var run = new CellRun(this, client, injector, files, mode);
            try
            {
                var operation = phase switch
                {
                    Phase.Idle => run.IdleAsync(),
                    Phase.MidRead => run.ReadAsync(),
                    Phase.MidWrite => run.WriteAsync(),
                    Phase.MidCreate => run.CreateAsync(),
                    Phase.MidListing => run.ListAsync(),
                    Phase.MidDownload => run.DownloadAsync(),
                    Phase.MidUpload => run.UploadAsync(),
                    _ => throw new ArgumentOutOfRangeException(nameof(phase)),
                };
                try
                {
                    outcome = await operation.WaitAsync(Bound); // a hard call that never came back fails the cell, not the run
                }
                catch (TimeoutException)
                {
                    // A hang: what the client's connection was doing, and its log, go to the test's output.
                    Console.WriteLine($"HANG {fault} {phase} {mode}: fault injected {injector.Injected}, {injector.SinceInjected.TotalSeconds:0.0} s ago\n" +
                        $"{Internals(client)}\n{DiagLog.Text}\nsmbd log (tail):\n{SmbdLogTail(80)}");
                    throw;
                }
            }
            finally
            {
                await injector.LiftAsync();
            }
            Assert.True(injector.Injected, "the fault was never injected");
            // Every fault here is long enough to be noticed: the connection was lost and came back.
            Assert.True(lost >= 1 && restored >= 1, $"lost {lost}, restored {restored}");
            // Durable handles are reclaimed after all of these faults. A handle may be lost only when it is the
            // listing's directory handle (not durable; the listing opens the directory again), or when smbd logged
            // that it refused the reclaim because the file changed after it recorded the disconnect (SEMANTICS "A
            // request delivered late"); the operation then got the handle-lost error and was done again above.
            var unexpected = handlesLost.Where(h => !(phase == Phase.MidListing && h.StartsWith(files.ListDirectory + ":", StringComparison.Ordinal))
                && !run.SambaRefused.Any(r => h.Replace('\\', '/').StartsWith(r + ":", StringComparison.Ordinal))).ToList();
            Assert.True(unexpected.Count == 0, "handles lost: " + string.Join("; ", unexpected) + "\nsmbd says:\n" + DurableLogLines());
            if (!run.SambaRefused.IsEmpty)
            {
                outcome += $"; Samba refused {run.SambaRefused.Count} reclaim(s), file changed after the disconnect: redone";
            }
        }
        await AssertNoOpenFilesAsync();
        cell.Stop();
        Console.WriteLine($"MEASURE matrix {fault} {phase} {mode}: {cell.ElapsedMilliseconds} ms (lost {lost}, restored {restored}; {outcome})");
    }

    /// <summary>The smbd log line (log level 1) saying it refused to reconnect the durable handle of <paramref name="path"/> because the file changed.</summary>
    private string? SambaRefusalLine(string path)
    {
        try
        {
            return File.ReadAllLines(Server.LogFile).FirstOrDefault(l => l.Contains("denying durable reconnect", StringComparison.Ordinal)
                && l.Contains(" differs", StringComparison.Ordinal) && l.Contains($"({path})", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The last <paramref name="lines"/> lines smbd logged, for a hung cell's report.</summary>
    private string SmbdLogTail(int lines)
    {
        try
        {
            return string.Join("\n", File.ReadAllLines(Server.LogFile).TakeLast(lines));
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }

    /// <summary>What smbd logged about durable handles (its log level 1 includes why it refused a reconnect).</summary>
    private string DurableLogLines()
    {
        try
        {
            var lines = File.ReadAllLines(Server.LogFile);
            return string.Join("\n", lines.Select((l, i) => (l, i))
                .Where(x => x.l.Contains("durable", StringComparison.OrdinalIgnoreCase))
                .SelectMany(x => lines.Skip(Math.Max(0, x.i - 1)).Take(2)).TakeLast(20));
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }

    private SharedFiles SharedFilesFor() => Shared.GetOrAdd(Server.Directory, directory => new Lazy<SharedFiles>(() =>
    {
        var read = NewFile("matrix-read", FileSize, out var data);
        // Read it once here, so no cell's READ is the file's first since it was written (relatime would change
        // its atime, and Samba refuses a durable reconnect when atime changed: see "A READ delivered late" in SEMANTICS).
        _ = File.ReadAllBytes(Server.LocalPath(read));
        var dir = $"matrix-list-{Guid.NewGuid():N}";
        var local = Server.CreateShareDirectory(dir);
        // Long names: 2,500 entries of at least 64 + 412 bytes (any information class) take more than one 1 MiB QUERY_DIRECTORY.
        var names = Enumerable.Range(0, ListingCount).Select(i => $"n{i:D4}-{new string('x', 200)}").ToArray();
        foreach (var n in names)
        {
            File.WriteAllBytes(Path.Combine(local, n), []);
        }
        return new SharedFiles(read, SHA256.HashData(data), dir, names);
    })).Value;

    /// <summary>One fault: where clients connect, how it is injected and lifted. Lifting is idempotent and always happens.</summary>
    private sealed class Injector(FaultMatrixTests test, Fault fault) : IAsyncDisposable
    {
        private readonly FaultProxy? _proxy = fault == Fault.IptablesDrop ? null : FaultProxy.Start(test.Server.Port);
        private readonly string[] _rule = test.LoopbackDropRule("matrix");
        private readonly SemaphoreSlim _lock = new(1, 1);
        private readonly CancellationTokenSource _disposed = new();
        private bool _active;
        private long _injectedAt;
        private List<int>? _smbdPids;
        private Task _scheduledLift = Task.CompletedTask;

        public bool Injected { get; private set; }

        /// <summary>A black-hole or DROP lasts until lifted; a reset or SIGTERM is over once done.</summary>
        public bool Lasting => fault is Fault.BlackHole or Fault.IptablesDrop;

        public TimeSpan SinceInjected => Stopwatch.GetElapsedTime(_injectedAt);

        public string Url(string path) => _proxy is null ? test.Server.Url(path) : FaultTestBase.Url(_proxy, path);

        /// <summary>For SIGTERM: finds the serving smbd now (the client is connected), so the fault itself is instant.</summary>
        public async Task PrepareAsync()
        {
            if (fault == Fault.SmbdSigterm)
            {
                _smbdPids = await test.ServingProcessesAsync();
            }
        }

        /// <summary>Delays every chunk the proxy forwards (no-op without one), so round trips take a while.</summary>
        public void Delay(TimeSpan delay)
        {
            if (_proxy is not null)
            {
                _proxy.Delay = delay;
            }
        }

        /// <summary>Slows the proxy (no-op without one) so transfers have requests in flight when the fault hits.</summary>
        public void Throttle(int bytesPerSecond)
        {
            if (_proxy is not null)
            {
                _proxy.BytesPerSecond = bytesPerSecond;
            }
        }

        /// <summary>Injects the fault; a lasting one is lifted after <paramref name="liftAfter"/>, or only by <see cref="LiftAsync"/> when null.</summary>
        public async Task InjectAsync(TimeSpan? liftAfter)
        {
            Assert.False(Injected, "the fault was injected twice");
            Injected = true;
            _injectedAt = Stopwatch.GetTimestamp();
            switch (fault)
            {
                case Fault.Reset:
                    _proxy!.ResetAll();
                    break;
                case Fault.SmbdSigterm:
                    Terminate(_smbdPids ?? await test.ServingProcessesAsync());
                    break;
                case Fault.BlackHole:
                    _active = true;
                    _proxy!.BlackHole();
                    break;
                case Fault.IptablesDrop:
                    _active = true; // before inserting: whatever happens, the finally removes it
                    await InsertRuleAsync(_rule);
                    break;
            }
            if (Lasting)
            {
                var after = liftAfter ?? MaxHold;
                _scheduledLift = Task.Run(async () =>
                {
                    try
                    {
                        await Task.Delay(after, _disposed.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return; // the cell is over and has lifted the fault itself
                    }
                    await LiftAsync();
                });
            }
        }

        public async Task LiftAsync()
        {
            await _lock.WaitAsync();
            try
            {
                if (!_active)
                {
                    return;
                }
                if (fault == Fault.IptablesDrop)
                {
                    await RemoveRuleAsync(_rule);
                }
                else
                {
                    _proxy!.Restore();
                }
                _active = false;
            }
            finally
            {
                _lock.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await LiftAsync();
            if (fault == Fault.IptablesDrop)
            {
                await RemoveRuleAsync(_rule); // belt and braces: no copy of the rule survives the cell
            }
            if (_proxy is not null)
            {
                await _proxy.DisposeAsync();
            }
            await _disposed.CancelAsync();
            await _scheduledLift.WaitAsync(TimeSpan.FromSeconds(30));
            _lock.Dispose();
            _disposed.Dispose();
        }
    }

    /// <summary>The phases of one cell: each runs its operation with the fault injected part-way and checks the outcome.</summary>
    private sealed class CellRun(FaultMatrixTests test, SmbClient client, Injector injector, SharedFiles files, Mode mode)
    {
        private TimeSpan? LiftAfter => mode == Mode.SoftExpired ? null : Outage;

        /// <summary>Paths whose durable reclaim smbd refused because the file changed after it recorded the disconnect.</summary>
        public ConcurrentBag<string> SambaRefused { get; } = [];

        /// <summary>
        /// True when <paramref name="e"/> is the handle-lost error (as such, or as the reason written data is not
        /// known to be written) for <paramref name="path"/>, and smbd logged that it refused the reclaim because the
        /// file's stat changed after it recorded the disconnect — Samba's race documented in SEMANTICS ("A request
        /// delivered late"). Any other handle loss is not excused.
        /// </summary>
        private bool SambaRefusedReclaim(Exception e, string path)
        {
            var lost = e as SmbHandleLostException ?? e.InnerException as SmbHandleLostException;
            if (lost is null || !lost.Message.Contains("STATUS_OBJECT_NAME_NOT_FOUND", StringComparison.Ordinal) || test.SambaRefusalLine(path) is null)
            {
                return false;
            }
            SambaRefused.Add(path);
            return true;
        }

        private Task InjectAsync() => injector.InjectAsync(LiftAfter);

        private string Url(string path) => injector.Url(path);

        /// <summary>Soft, outage longer than the soft timeout: the error must be the timeout, within the bound. Then the fault is lifted.</summary>
        private async Task<string> ExpectSoftTimeoutAsync(Exception? error)
        {
            Assert.Equal(Mode.SoftExpired, mode);
            var after = injector.SinceInjected;
            Assert.NotNull(error);
            Assert.True(IsSoftTimeout(error), "expected the soft timeout, got: " + error);
            Assert.True(after < SoftFailureBound, $"failed {after.TotalSeconds:0.0} s after the fault (bound {SoftFailureBound.TotalSeconds} s)");
            await injector.LiftAsync();
            await WaitUntilUsableAsync();
            return $"{error.GetType().Name}{(error is IOException ? " (not known to be written)" : "")} after {after.TotalMilliseconds:0} ms";
        }

        /// <summary>A soft timeout, as such or as the reason buffered data is not known to be written.</summary>
        private static bool IsSoftTimeout(Exception e) =>
            e is SmbTimeoutException || (e is IOException && e.InnerException is SmbTimeoutException);

        /// <summary>After a soft failure, reconnecting goes on: calls work again soon after the fault is lifted (bounded).</summary>
        private async Task WaitUntilUsableAsync()
        {
            var sw = Stopwatch.StartNew();
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await client.GetInfoAsync(Url(files.ReadFile));
                    return;
                }
                catch (SmbTimeoutException) when (sw.Elapsed < TimeSpan.FromSeconds(20) && attempt < 100)
                {
                    await Task.Delay(200);
                }
            }
        }

        private async Task AssertReadFileAsync()
        {
            var back = new MemoryStream();
            await client.DownloadAsync(Url(files.ReadFile), back);
            Assert.Equal(files.ReadHash, SHA256.HashData(back.ToArray()));
        }

        public async Task<string> IdleAsync()
        {
            await client.GetInfoAsync(Url(files.ReadFile)); // connected, then idle
            await injector.PrepareAsync();
            await InjectAsync();
            try
            {
                await AssertReadFileAsync(); // meets the fault (a lasting one is still there)
            }
            catch (Exception e) when (mode != Mode.SoftExpired && SambaRefusedReclaim(e, files.ReadFile))
            {
                await AssertReadFileAsync();
            }
            catch (Exception e) when (mode == Mode.SoftExpired)
            {
                var r = await ExpectSoftTimeoutAsync(e);
                await AssertReadFileAsync();
                return r;
            }
            Assert.NotEqual(Mode.SoftExpired, mode);
            return $"completed {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
        }

        public async Task<string> ReadAsync()
        {
            var stream = await client.OpenReadAsync(Url(files.ReadFile));
            await injector.PrepareAsync();
            try
            {
                injector.Throttle(8 * 1024 * 1024);
                var back = await ReadAllAsync(stream, FileSize / 4, InjectAsync, IoChunk);
                Assert.NotEqual(Mode.SoftExpired, mode);
                Assert.Equal(files.ReadHash, SHA256.HashData(back));
                return $"byte-exact {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
            }
            catch (Exception e) when (mode != Mode.SoftExpired && SambaRefusedReclaim(e, files.ReadFile))
            {
                injector.Throttle(0);
                await AssertReadFileAsync();
                return "handle lost, read again: byte-exact";
            }
            catch (Exception e) when (mode == Mode.SoftExpired && injector.Injected)
            {
                var r = await ExpectSoftTimeoutAsync(e);
                await AssertReadFileAsync();
                return r;
            }
            finally
            {
                injector.Throttle(0);
                await stream.DisposeAsync(); // after recovery: the reclaimed handle is closed, not left behind
            }
        }

        public async Task<string> DownloadAsync()
        {
            var local = Path.Combine(Path.GetTempPath(), $"smblayer-matrix-{Guid.NewGuid():N}.bin");
            var prefix = RandomNumberGenerator.GetBytes(1000); // the download starts at a non-zero file offset
            // The fault goes in from the copy loop itself once half is in the file (the first MiB comes compounded with the CREATE) (it waits there meanwhile,
            // so no further READ is issued before the fault is in place, with or without the proxy's throttle).
            var progress = new InlineProgress(n =>
            {
                if (n >= FileSize / 2 && !injector.Injected)
                {
                    InjectAsync().GetAwaiter().GetResult();
                }
            });
            await client.GetInfoAsync(Url(files.ReadFile)); // connected, so the injector knows the serving smbd
            await injector.PrepareAsync();
            try
            {
                injector.Throttle(8 * 1024 * 1024);
                await using (var file = new FileStream(local, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, useAsync: true))
                {
                    await file.WriteAsync(prefix);
                    Assert.Equal(FileSize, await client.DownloadAsync(Url(files.ReadFile), file, progress));
                    Assert.Equal(prefix.Length + FileSize, file.Position);
                }
                Assert.NotEqual(Mode.SoftExpired, mode);
                var back = await File.ReadAllBytesAsync(local);
                Assert.Equal(prefix, back[..prefix.Length]);
                Assert.Equal(files.ReadHash, SHA256.HashData(back.AsSpan(prefix.Length)));
                if (OperatingSystem.IsLinux())
                {
                    Assert.True(client.BytesReadIntoFiles > 0, "no READ data went straight into the file: the splice path was not exercised");
                }
                return $"byte-exact {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
            }
            catch (Exception e) when (mode != Mode.SoftExpired && SambaRefusedReclaim(e, files.ReadFile))
            {
                injector.Throttle(0);
                await AssertReadFileAsync();
                return "handle lost, read again: byte-exact";
            }
            catch (Exception e) when (mode == Mode.SoftExpired && injector.Injected)
            {
                var r = await ExpectSoftTimeoutAsync(e);
                await AssertReadFileAsync();
                return r;
            }
            finally
            {
                injector.Throttle(0);
                File.Delete(local);
            }
        }

        public async Task<string> UploadAsync()
        {
            var name = $"matrix-upload-{Guid.NewGuid():N}.bin";
            var data = RandomNumberGenerator.GetBytes(FileSize);
            var local = Path.Combine(Path.GetTempPath(), $"smblayer-matrix-{Guid.NewGuid():N}.bin");
            await File.WriteAllBytesAsync(local, data);
            // As for the download: the fault goes in from the copy loop once half is handed to WRITEs.
            var progress = new InlineProgress(n =>
            {
                if (n >= FileSize / 2 && !injector.Injected)
                {
                    InjectAsync().GetAwaiter().GetResult();
                }
            });
            string result;
            await client.GetInfoAsync(Url(files.ReadFile)); // connected, so the injector knows the serving smbd
            await injector.PrepareAsync();
            try
            {
                injector.Throttle(8 * 1024 * 1024);
                await using (var file = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, useAsync: true))
                {
                    Assert.Equal(FileSize, await client.UploadAsync(file, Url(name), progress));
                }
                Assert.NotEqual(Mode.SoftExpired, mode);
                if (OperatingSystem.IsLinux())
                {
                    Assert.True(client.BytesSentFromFiles > 0, "no WRITE data went straight from the file: the sendfile path was not exercised");
                }
                result = $"byte-exact {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
            }
            catch (Exception e) when (mode != Mode.SoftExpired && SambaRefusedReclaim(e, name))
            {
                injector.Throttle(0);
                await client.UploadAsync(new MemoryStream(data), Url(name));
                result = "handle lost, written again: byte-exact";
            }
            catch (Exception e) when (mode == Mode.SoftExpired && injector.Injected)
            {
                result = await ExpectSoftTimeoutAsync(e);
                // Later calls work: the file is written again in full.
                await client.UploadAsync(new MemoryStream(data), Url(name));
            }
            finally
            {
                injector.Throttle(0);
                File.Delete(local);
            }
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(test.Server.LocalPath(name))));
            return result;
        }

        /// <summary>Reports on the caller's thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
        private sealed class InlineProgress(Action<long> report) : IProgress<long>
        {
            public void Report(long value) => report(value);
        }

        public async Task<string> WriteAsync()
        {
            var name = $"matrix-write-{Guid.NewGuid():N}.bin";
            var data = RandomNumberGenerator.GetBytes(FileSize);
            string result;
            var stream = await client.OpenWriteAsync(Url(name));
            await injector.PrepareAsync();
            injector.Throttle(8 * 1024 * 1024);
            try
            {
                for (var offset = 0; offset < data.Length; offset += IoChunk)
                {
                    await stream.WriteAsync(data.AsMemory(offset, IoChunk));
                    if (offset + IoChunk == FileSize / 4)
                    {
                        await InjectAsync();
                    }
                }
                await stream.DisposeAsync();
                Assert.NotEqual(Mode.SoftExpired, mode);
                result = $"byte-exact {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
            }
            catch (Exception e) when (mode != Mode.SoftExpired && SambaRefusedReclaim(e, name))
            {
                injector.Throttle(0);
                try
                {
                    await stream.DisposeAsync();
                }
                catch (IOException)
                {
                    // Reported as not known to be written, as documented for a lost handle.
                }
                await client.UploadAsync(new MemoryStream(data), Url(name));
                result = "handle lost, written again: byte-exact";
            }
            catch (Exception e) when (mode == Mode.SoftExpired && injector.Injected)
            {
                result = await ExpectSoftTimeoutAsync(e);
                try
                {
                    await stream.DisposeAsync();
                }
                catch (IOException)
                {
                    // The data it held is reported as not known to be written: that is the point.
                }
                // Later calls work: the file is written again in full.
                await client.UploadAsync(new MemoryStream(data), Url(name));
            }
            finally
            {
                injector.Throttle(0);
            }
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(test.Server.LocalPath(name))));
            return result;
        }

        public async Task<string> CreateAsync()
        {
            var dir = $"matrix-create-{Guid.NewGuid():N}";
            test.Server.CreateShareDirectory(dir);
            var contents = Enumerable.Range(0, CreateCount).Select(_ => RandomNumberGenerator.GetBytes(4096)).ToArray();
            var failures = new ConcurrentDictionary<int, Exception>();
            var completed = 0;
            var next = -1;
            var injected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var firstFailure = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            // Proof that the fault hit creates in flight: calls that started before the connection was lost and ended after.
            long lostAt = 0;
            var spanned = 0;
            void OnLost(object? sender, SmbConnectionEventArgs e) => Interlocked.CompareExchange(ref lostAt, Stopwatch.GetTimestamp(), 0);
            client.ConnectionLost += OnLost;
            await client.GetInfoAsync(Url(dir)); // connected
            await injector.PrepareAsync();
            // Through the proxy every chunk waits 10 ms each way, so each worker has a CREATE on the wire most of the time.
            injector.Delay(TimeSpan.FromMilliseconds(10));

            async Task CreateOneAsync(int i)
            {
                var url = Url($"{dir}/f{i:D2}.bin");
                if (i % 2 == 0)
                {
                    // A durable CREATE (OverwriteIf; on 3.x with a CreateGuid), a WRITE, a CLOSE.
                    await using var s = await client.OpenWriteAsync(url);
                    await s.WriteAsync(contents[i]);
                }
                else
                {
                    // CREATE (OverwriteIf) + WRITE + CLOSE in one compound.
                    await client.UploadAsync(new MemoryStream(contents[i]), url);
                }
            }

            async Task WorkerAsync()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < CreateCount)
                {
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        await CreateOneAsync(i);
                    }
                    catch (Exception e)
                    {
                        failures[i] = e;
                        firstFailure.TrySetResult();
                        continue;
                    }
                    finally
                    {
                        var lost = Interlocked.Read(ref lostAt);
                        if (lost != 0 && started < lost)
                        {
                            Interlocked.Increment(ref spanned);
                        }
                    }
                    if (Interlocked.Increment(ref completed) == CreateCount / 4)
                    {
                        // The others still have CREATEs in flight.
                        try
                        {
                            await InjectAsync();
                            injected.TrySetResult();
                        }
                        catch (Exception e)
                        {
                            injected.TrySetException(e);
                        }
                    }
                }
            }

            var workers = Enumerable.Range(0, CreateWorkers).Select(_ => Task.Run(WorkerAsync)).ToArray();
            string result;
            if (mode == Mode.SoftExpired)
            {
                await injected.Task.WaitAsync(Bound);
                await firstFailure.Task.WaitAsync(Bound);
                var first = injector.SinceInjected;
                // The fault is lifted as soon as the first call has failed: the remaining calls fail or succeed.
                await injector.LiftAsync();
                await Task.WhenAll(workers).WaitAsync(Bound);
                Assert.NotEmpty(failures);
                Assert.All(failures, f => Assert.True(IsSoftTimeout(f.Value) || SambaRefusedReclaim(f.Value, $"{dir}/f{f.Key:D2}.bin"),
                    "expected the soft timeout, got: " + f.Value));
                Assert.True(first < SoftFailureBound, $"first failure {first.TotalSeconds:0.0} s after the fault");
                await WaitUntilUsableAsync();
                foreach (var i in failures.Keys)
                {
                    await CreateOneAsync(i); // later calls work
                }
                result = $"{failures.Count} of {CreateCount} creates failed ({string.Join(", ", failures.Values.Select(e => e.GetType().Name).Distinct())}), "
                    + $"first {first.TotalMilliseconds:0} ms after the fault, then created";
            }
            else
            {
                await Task.WhenAll(workers).WaitAsync(Bound);
                var unexplained = failures.Where(f => !SambaRefusedReclaim(f.Value, $"{dir}/f{f.Key:D2}.bin")).ToList();
                Assert.True(unexplained.Count == 0, "creates failed: " + string.Join("\n", unexplained.Select(f => $"{f.Key}: {f.Value}"))
                    + "\nsmbd says:\n" + test.DurableLogLines());
                await injected.Task;
                foreach (var i in failures.Keys)
                {
                    await CreateOneAsync(i); // a handle Samba refused to give back: created again
                }
                result = $"{CreateCount} created, last {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
            }
            client.ConnectionLost -= OnLost;
            injector.Delay(TimeSpan.Zero);
            Assert.True(spanned > 0, "no create was in flight when the connection was lost");
            result += $", {spanned} in flight at the loss";
            // Each file exactly once, none missing, nothing else, every content exact.
            var onDisk = Directory.GetFiles(test.Server.LocalPath(dir)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(Enumerable.Range(0, CreateCount).Select(i => $"f{i:D2}.bin"), onDisk);
            for (var i = 0; i < CreateCount; i++)
            {
                Assert.Equal(contents[i], await File.ReadAllBytesAsync(test.Server.LocalPath($"{dir}/f{i:D2}.bin")));
            }
            return result;
        }

        public async Task<string> ListAsync()
        {
            var names = new List<string>();
            try
            {
                await foreach (var e in client.ListAsync(Url(files.ListDirectory)))
                {
                    names.Add(e.Name);
                    if (names.Count == 1)
                    {
                        await injector.PrepareAsync();
                    }
                    if (names.Count == ListingCount / 3)
                    {
                        await InjectAsync();
                    }
                }
                Assert.NotEqual(Mode.SoftExpired, mode);
                AssertEachNameOnce(names);
                return $"{names.Count} names, each once, {injector.SinceInjected.TotalMilliseconds:0} ms after the fault";
            }
            catch (Exception e) when (mode == Mode.SoftExpired && injector.Injected)
            {
                var r = await ExpectSoftTimeoutAsync(e);
                names.Clear();
                await foreach (var entry in client.ListAsync(Url(files.ListDirectory)))
                {
                    names.Add(entry.Name);
                }
                AssertEachNameOnce(names);
                return r;
            }
        }

        private void AssertEachNameOnce(List<string> names)
        {
            Assert.Equal(files.ListNames.Length, names.Count);
            Assert.Equal(files.ListNames.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
        }
    }
}
