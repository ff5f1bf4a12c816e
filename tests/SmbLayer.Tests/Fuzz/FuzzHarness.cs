using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Session;
using SmbLayer.Tests.Transport;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Fuzz;

/// <summary>What a fuzz run saw. Any <see cref="Failures"/> entry is a bug: a crash, a hang, an untyped exception or an unbounded allocation.</summary>
internal sealed class FuzzReport
{
    private long _cases;
    private long _accepted;
    private long _typedErrors;
    private long _maxAllocated;
    public ConcurrentQueue<string> Failures { get; } = new();
    public ConcurrentDictionary<string, long> Outcomes { get; } = new();

    public long Cases => Interlocked.Read(ref _cases);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long TypedErrors => Interlocked.Read(ref _typedErrors);
    public long MaxAllocatedBytes => Interlocked.Read(ref _maxAllocated);
    public TimeSpan Elapsed { get; set; }

    /// <summary>Live runs: highest managed memory seen above the starting point.</summary>
    public long PeakManagedBytes { get; set; }

    public void Count() => Interlocked.Increment(ref _cases);
    public void Accept() => Interlocked.Increment(ref _accepted);

    public void Typed(Exception ex)
    {
        Interlocked.Increment(ref _typedErrors);
        Outcomes.AddOrUpdate(ex.GetType().Name, 1, (_, n) => n + 1);
    }

    public void Fail(string what)
    {
        if (Failures.Count < 50)
        {
            Failures.Enqueue(what);
        }
    }

    public void Allocated(long bytes)
    {
        long seen;
        while (bytes > (seen = Interlocked.Read(ref _maxAllocated)) && Interlocked.CompareExchange(ref _maxAllocated, bytes, seen) != seen)
        {
        }
    }

    public override string ToString() =>
        $"{Cases:N0} cases in {Elapsed.TotalSeconds:0.0} s: {Accepted:N0} accepted, {TypedErrors:N0} typed errors " +
        $"({string.Join(", ", Outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value:N0}"))}), " +
        (PeakManagedBytes > 0 ? $"peak managed memory +{PeakManagedBytes / 1048576.0:0.#} MiB" : $"max allocation per case {MaxAllocatedBytes / 1024.0:0.#} KiB") +
        $", {Failures.Count} failures";
}

/// <summary>
/// Mutates valid server messages (<see cref="FuzzSeeds"/>) and feeds them (1) to the parsers and the transport's
/// classification, synchronously, and (2) through a <see cref="ScriptedPeer"/> to a live connection. The only
/// acceptable outcomes are success or a typed <see cref="SmbException"/>, within a time bound and an allocation bound.
/// </summary>
internal static class FuzzHarness
{
    /// <summary>A parser case may allocate this much plus 16 bytes per input byte (copies, strings, lists).</summary>
    private const long AllocationAllowance = 4 * 1024 * 1024;

    /// <summary>One parser case taking this long counts as a hang.</summary>
    private static readonly TimeSpan ParserBound = TimeSpan.FromSeconds(1);

    /// <summary>Everything a live case does (the reply, the follow-up, closing) must end within this.</summary>
    private static readonly TimeSpan LiveBound = TimeSpan.FromSeconds(10);

    private static Random CaseRandom(int runSeed, long caseNumber) => new(HashCode.Combine(runSeed, caseNumber));

    public static FuzzReport RunParsers(long cases, int runSeed, int? degree = null)
    {
        var seeds = FuzzSeeds.All;
        var report = new FuzzReport();
        var clock = Stopwatch.StartNew();
        Parallel.For(0L, cases, new ParallelOptions { MaxDegreeOfParallelism = degree ?? Environment.ProcessorCount }, i =>
        {
            var seed = seeds[(int)(i % seeds.Count)];
            var kind = Mutator.Kinds[(int)(i / seeds.Count % Mutator.Kinds.Length)];
            var message = Mutator.Apply(seed.Message, kind, CaseRandom(runSeed, i));
            report.Count();
            var before = GC.GetAllocatedBytesForCurrentThread();
            var started = Stopwatch.GetTimestamp();
            try
            {
                try
                {
                    FuzzSeeds.Classify(message);
                }
                catch (SmbProtocolException)
                {
                    // The reader loop would stop here; the parsers must cope on their own anyway.
                }
                seed.Consume(message);
                report.Accept();
            }
            catch (Exception ex) when (ex is SmbProtocolException or SmbSecurityException or SmbRpcException)
            {
                report.Typed(ex);
            }
            catch (Exception ex)
            {
                report.Fail($"case {i} ({seed.Name}, {kind}, {message.Length} B): {ex.GetType().Name}: {ex.Message} | {Convert.ToHexString(message)[..Math.Min(400, message.Length * 2)]}");
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            report.Allocated(allocated);
            if (allocated > AllocationAllowance + (16L * message.Length))
            {
                report.Fail($"case {i} ({seed.Name}, {kind}): allocated {allocated:N0} bytes for a {message.Length}-byte message");
            }
            if (Stopwatch.GetElapsedTime(started) > ParserBound)
            {
                report.Fail($"case {i} ({seed.Name}, {kind}): took {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
            }
        });
        report.Elapsed = clock.Elapsed;
        return report;
    }

    public static async Task<FuzzReport> RunLiveAsync(long cases, int runSeed, int workers = 8)
    {
        var report = new FuzzReport();
        var clock = Stopwatch.StartNew();
        long next = -1;
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            long i;
            while ((i = Interlocked.Increment(ref next)) < cases)
            {
                await RunLiveCaseAsync(i, runSeed, report).ConfigureAwait(false);
                if (i % 256 == 0)
                {
                    var now = GC.GetTotalMemory(false);
                    if (now > Interlocked.Read(ref peak))
                    {
                        Interlocked.Exchange(ref peak, now);
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        report.Elapsed = clock.Elapsed;
        // Leaks: every connection of the run must be collectable once closed. (Managed memory itself stays up
        // after the run: ArrayPool.Shared keeps the frame buffers it lent, up to 16 MiB each, by design.)
        // A case's last fire-and-forget work (an ECHO the timer sent, a server message handed to the thread pool)
        // may still be finishing when the run ends and hold its connection for a moment: look again, for up to
        // 5 s. A real leak stays.
        var alive = 0;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            alive = Connections.Count(w => w.IsAlive);
            if (alive == 0)
            {
                break;
            }
            await Task.Delay(100);
        }
        if (alive > 0)
        {
            report.Fail($"{alive} of {Connections.Count} closed connections are still reachable (leak)");
        }
        Connections.Clear();
        if (peak > PeakMemoryLimit)
        {
            report.Fail($"managed memory peaked at {peak / 1048576.0:0.#} MiB (limit {PeakMemoryLimit / 1048576} MiB)");
        }
        report.PeakManagedBytes = Math.Max(peak, GC.GetTotalMemory(false)) - baseline;
        return report;
    }

    /// <summary>Bound on managed memory during a live run (8 workers; each case may make the reader rent one frame buffer of up to 16 MiB).</summary>
    private const long PeakMemoryLimit = 1024L * 1024 * 1024;

    private static readonly ConcurrentBag<WeakReference> Connections = [];

    private static async Task RunLiveCaseAsync(long i, int runSeed, FuzzReport report)
    {
        var seeds = FuzzSeeds.All;
        var seed = seeds[(int)(i % seeds.Count)];
        var kind = Mutator.Kinds[(int)(i / seeds.Count % Mutator.Kinds.Length)];
        var random = CaseRandom(runSeed, -1 - i);
        report.Count();
        var settings = new ConnectionSettings { RequestTimeout = TimeSpan.FromMilliseconds(300), CancelGrace = TimeSpan.FromMilliseconds(100) };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings);
        Connections.Add(new WeakReference(connection));
        var encrypted = seed.Name.StartsWith("transform", StringComparison.Ordinal);
        SessionTransform? clientTransform = null;
        Smb3Cipher? serverCipher = null;
        // 1 case in 8 is also a flood of unsolicited break notifications ahead of the reply, at a handler that takes
        // none of them until the case ends: it drives the queue's limit (SmbConnection.MaxQueuedServerMessages) and,
        // 1 flood in 4, the size limit of one such message (SmbLink.MaxServerMessageSize) with a notification 1 byte over.
        var flood = !encrypted && random.Next(8) == 0 ? random.Next(1, 2 * SmbConnection.MaxQueuedServerMessages + 2) : 0;
        var oversized = flood > 0 && random.Next(4) == 0;
        using var stall = new ManualResetEventSlim();
        if (flood > 0)
        {
            connection.RegisterServerMessageHandler(_ => stall.Wait(LiveBound));
        }
        try
        {
            var context = new RequestContext { SessionId = 0x11 };
            if (encrypted)
            {
                var key = Enumerable.Range(1, 16).Select(b => (byte)b).ToArray();
                clientTransform = new SessionTransform(0x11, new Smb3Cipher(CipherId.Aes128Gcm, key, key));
                serverCipher = new Smb3Cipher(CipherId.Aes128Gcm, key, key);
                connection.RegisterTransform(clientTransform);
                context = new RequestContext { SessionId = 0x11, Transform = clientTransform };
            }
            var command = encrypted ? Smb2Command.Read : seed.Command;
            var pending = connection.SendAsync(new TestRequest(command), context, CancellationToken.None, priority: true);
            var frame = await peer.ReadRawFrameAsync(LiveBound);
            var requestMessage = frame;
            if (encrypted)
            {
                requestMessage = new byte[frame.Length - Smb2TransformHeader.Size];
                serverCipher!.Decrypt(frame, requestMessage);
            }
            var request = Smb2Header.ReadFrom(requestMessage);
            var wire = BuildReply(seed, request, kind, random, serverCipher);
            try
            {
                if (flood > 0)
                {
                    await peer.SendRawAsync(Flood(flood, oversized, random));
                }
                await peer.SendRawAsync(wire);
            }
            catch (IOException) when (oversized)
            {
                // The client ended the link at the oversized notification, as it must; the reply found it closed.
            }

            var outcome = await Outcome(pending, seed, report, $"case {i} ({seed.Name}, {kind})");
            if (flood > 0)
            {
                CheckFlood(connection, flood, oversized, report, $"case {i} ({seed.Name}, {kind}, flood of {flood}{(oversized ? ", one oversized" : "")})");
            }
            if (outcome && connection.State == ConnectionState.Ready && !encrypted)
            {
                // Not corrupted: the same connection still carries a normal exchange (or fails it with a typed error).
                var echo = connection.SendAsync(new TestRequest(), RequestContext.None, CancellationToken.None, priority: true);
                try
                {
                    var next = await peer.ReadRequestAsync(TimeSpan.FromSeconds(2));
                    await peer.ReplyAsync(next);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException or Xunit.Sdk.XunitException)
                {
                    // The client closed the connection (e.g. a duplicated message arrived after the reply); the echo fails typed.
                }
                await Outcome(echo, null, report, $"case {i} ({seed.Name}, {kind}) follow-up");
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            report.Fail($"case {i} ({seed.Name}, {kind}): the scripted peer saw no request: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            stall.Set();
            var closing = Task.Run(async () =>
            {
                await connection.DisposeAsync();
                await peer.DisposeAsync();
            });
            if (await Task.WhenAny(closing, Task.Delay(LiveBound)) != closing)
            {
                report.Fail($"case {i} ({seed.Name}, {kind}): closing the connection hung");
            }
            else if (connection.InFlightCount != 0)
            {
                report.Fail($"case {i} ({seed.Name}, {kind}): {connection.InFlightCount} requests left pending after close");
            }
            clientTransform?.Dispose();
            serverCipher?.Dispose();
        }
    }

    /// <summary>
    /// <paramref name="count"/> unsolicited break notifications (oplock and lease, MessageId all ones), some padded to
    /// exactly the 1 KiB an unsolicited message may have; with <paramref name="oversized"/> the last is 1 byte over.
    /// </summary>
    private static byte[] Flood(int count, bool oversized, Random random)
    {
        var breaks = FuzzSeeds.All.Where(s => s.Name is "oplock-break" or "lease-break").Select(s => s.Message).ToArray();
        var frames = new List<byte>(count * 128);
        for (var n = 0; n < count; n++)
        {
            var message = breaks[random.Next(breaks.Length)];
            var size = oversized && n == count - 1 ? SmbLink.MaxServerMessageSize + 1
                : random.Next(4) == 0 ? SmbLink.MaxServerMessageSize
                : message.Length;
            var frame = new byte[4 + size];
            BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)size);
            message.CopyTo(frame, 4);
            BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(4 + 24), ulong.MaxValue); // MessageId: unsolicited (§3.2.5.19)
            BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4 + 14), 0); // grants no credits
            frames.AddRange(frame);
        }
        return [.. frames];
    }

    /// <summary>
    /// What a flood must leave: with the handler taking none, at most the queue's limit held (plus the one the handler
    /// sits on), the rest dropped and counted; an oversized notification is a protocol violation that ends the link.
    /// </summary>
    private static void CheckFlood(SmbConnection connection, int flood, bool oversized, FuzzReport report, string label)
    {
        if (oversized)
        {
            if (connection.State == ConnectionState.Ready)
            {
                report.Fail($"{label}: a notification over {SmbLink.MaxServerMessageSize} bytes left the connection Ready");
            }
            return;
        }
        var mustDrop = flood - SmbConnection.MaxQueuedServerMessages - 1;
        if (mustDrop > 0 && connection.ServerMessagesDropped < mustDrop)
        {
            report.Fail($"{label}: {connection.ServerMessagesDropped} dropped; over the limit of {SmbConnection.MaxQueuedServerMessages} queued, at least {mustDrop} must be [{connection.State}, {connection.LastLoss?.Message}]");
        }
        // The reply itself may be a (mutated, duplicated) notification too: a few more may queue than the flood.
        if (connection.ServerMessagesDropped > Math.Max(0, flood + 8 - SmbConnection.MaxQueuedServerMessages))
        {
            report.Fail($"{label}: {connection.ServerMessagesDropped} dropped of {flood}, more than the limit requires");
        }
    }

    /// <summary>The seed addressed to the request (so unmutated it would be accepted), mutated, framed; sometimes the frame header is damaged instead.</summary>
    private static byte[] BuildReply(FuzzSeed seed, Smb2Header request, Mutation kind, Random random, Smb3Cipher? serverCipher)
    {
        byte[] message;
        if (serverCipher is not null)
        {
            var plain = Protocol.SambaCapture.Bytes(Protocol.SambaCapture.ReadResponseHex);
            Address(plain, request);
            message = new byte[Smb3Cipher.Overhead + plain.Length];
            serverCipher.Encrypt(0x11, plain, message);
        }
        else
        {
            message = (byte[])seed.Message.Clone();
            Address(message, request);
        }
        var mutated = Mutator.Apply(message, kind, random);
        var length = (uint)mutated.Length;
        if (random.Next(16) == 0)
        {
            // Direct TCP header damage: zero, too long, too short, huge, a non-zero first byte.
            uint[] lengths = [0, length + 1, length + 100, Math.Max(1, length - 1), 0x00FFFFFF, 0x01000000 | length];
            length = lengths[random.Next(lengths.Length)];
        }
        var frame = new byte[4 + mutated.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, length);
        mutated.CopyTo(frame, 4);
        return frame;
    }

    private static void Address(byte[] message, Smb2Header request)
    {
        if (message.Length < Smb2Header.Size || request.Command == Smb2Command.OplockBreak && BinaryPrimitives.ReadUInt64LittleEndian(message.AsSpan(24)) == ulong.MaxValue)
        {
            return; // a break notification stays unsolicited
        }
        BinaryPrimitives.WriteUInt64LittleEndian(message.AsSpan(24), request.MessageId);
        BinaryPrimitives.WriteUInt64LittleEndian(message.AsSpan(40), request.SessionId);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(12), (ushort)request.Command);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(14), 1);
    }

    /// <summary>Waits for one request's end; false when it did not complete successfully.</summary>
    private static async Task<bool> Outcome(Task<SmbResponse> pending, FuzzSeed? seed, FuzzReport report, string label)
    {
        try
        {
            using var response = await pending.WaitAsync(LiveBound);
            if (seed is not null)
            {
                try
                {
                    seed.Consume(response.Message.ToArray());
                }
                catch (Exception ex) when (ex is SmbProtocolException or SmbSecurityException)
                {
                    report.Typed(ex);
                    return true;
                }
            }
            report.Accept();
            return true;
        }
        catch (TimeoutException)
        {
            report.Fail($"{label}: no outcome within {LiveBound.TotalSeconds} s (hang)");
        }
        catch (SmbException ex)
        {
            report.Typed(ex);
        }
        catch (OperationCanceledException ex)
        {
            report.Typed(ex);
        }
        catch (Exception ex)
        {
            report.Fail($"{label}: untyped {ex.GetType().Name}: {ex.Message}");
        }
        return false;
    }
}
