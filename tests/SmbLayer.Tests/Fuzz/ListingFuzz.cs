using System.Collections.Concurrent;
using System.Diagnostics;
using SmbLayer.Protocol;
using SmbLayer.Tests.Client;

namespace SmbLayer.Tests.Fuzz;

/// <summary>
/// The third driver: whole listings and <c>get -r</c> walks through a real client against a <see cref="ScriptedFileServer"/>
/// whose directory pages are random (length, names of every kind, hostile ones included, endless or not) and, in 1 case in
/// 3, mutated. It drives the two limits a listing meets (docs/SECURITY.md, "Memory a server can make us hold"):
/// <list type="bullet">
/// <item>the names a listing keeps (<see cref="SmbClient.ListingNameLimit"/>, set small and random here): the connection is
/// dropped at a random point around it; afterwards the listing either goes on with no name twice or, only once it is past
/// the limit, fails with <see cref="SmbHandleLostException"/>;</item>
/// <item>the <c>get -r</c> queue: the walk may list at most what the transfers have taken, plus the queue (4 per transfer),
/// plus those in flight, plus the page it is on; and nothing is written outside the target directory, whatever the names.</item>
/// </list>
/// Every step must end in success or a typed <see cref="SmbException"/> within the bound.
/// </summary>
internal static class ListingFuzz
{
    private static readonly TimeSpan StepBound = TimeSpan.FromSeconds(10);

    /// <summary>Names a hostile or broken server might send: empty, dots, separators, a way out of the target, odd characters.</summary>
    private static readonly string[] Hostile =
    [
        "", ".", "..", "../escaped", "..\\escaped", "a/../../escaped", "/abs", "\\abs", "x\0y", "con", "a:b", " ", "trailing.",
        new string('n', 255), new string('n', 300), "\uD800", "\uDFFF\uD800", "emoji-\uD83D\uDE00", "é中",
    ];

    private static readonly Mutation[] BodyMutations =
        [Mutation.BitFlips, Mutation.RandomBytes, Mutation.BoundaryField16, Mutation.BoundaryField32, Mutation.Truncate, Mutation.Extend, Mutation.DuplicateSlice, Mutation.Stacked];

    public static async Task<FuzzReport> RunAsync(int cases, int runSeed, int workers = 4)
    {
        var report = new FuzzReport();
        var clock = Stopwatch.StartNew();
        var next = -1;
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < cases)
            {
                var random = new Random(HashCode.Combine(runSeed, i, 0x115));
                report.Count();
                try
                {
                    var kind = random.Next(6);
                    if (kind < 2)
                    {
                        await DownloadCaseAsync(i, random, report);
                    }
                    else if (kind == 2)
                    {
                        await BreakCaseAsync(i, random, report);
                    }
                    else
                    {
                        await ListingCaseAsync(i, random, report);
                    }
                }
                catch (Exception ex)
                {
                    report.Fail($"listing case {i}: the driver itself failed: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        report.Elapsed = clock.Elapsed;
        return report;
    }

    /// <summary>A page of the random listing: unique names (page and index first) or, in hostile cases, any names at all.</summary>
    private static List<(string, bool, long)> Page(Random random, int page, int perPage, bool hostile, bool directories)
    {
        var entries = new List<(string, bool, long)>(perPage);
        for (var i = 0; i < perPage; i++)
        {
            var name = hostile && random.Next(4) == 0
                ? Hostile[random.Next(Hostile.Length)]
                : $"{page:x}.{i:x}-{RandomText(random, random.Next(0, 40))}";
            entries.Add((name, directories && random.Next(8) == 0, 4)); // the size of ScriptedFileServer.Content here
        }
        return entries;
    }

    private static string RandomText(Random random, int length)
    {
        const string Alphabet = "abcXYZ019 _-.é中ß";
        return new string([.. Enumerable.Range(0, length).Select(_ => Alphabet[random.Next(Alphabet.Length)])]);
    }

    /// <summary>1 response in 3 of a mutating case has its QUERY_DIRECTORY body mutated (the header stays the server's).</summary>
    private static Func<Smb2Command, byte[], byte[]>? Mutating(Random random)
    {
        if (random.Next(3) != 0)
        {
            return null;
        }
        var mutations = new Random(random.Next());
        return (command, body) =>
        {
            lock (mutations)
            {
                return command != Smb2Command.QueryDirectory || mutations.Next(3) != 0 ? body : MutatedBody(body, mutations);
            }
        };
    }

    /// <summary>A message body mutated as the mutator mutates bodies (its header, were it one, left out of it).</summary>
    private static byte[] MutatedBody(ReadOnlySpan<byte> body, Random random)
    {
        var message = new byte[Smb2Header.Size + body.Length];
        body.CopyTo(message.AsSpan(Smb2Header.Size));
        var mutated = Mutator.Apply(message, BodyMutations[random.Next(BodyMutations.Length)], random);
        return mutated.Length > Smb2Header.Size ? mutated[Smb2Header.Size..] : [];
    }

    private static async Task ListingCaseAsync(int i, Random random, FuzzReport report)
    {
        var limit = random.Next(1, 400);
        var perPage = random.Next(1, 120);
        var endless = random.Next(3) == 0;
        var pages = random.Next(1, 12);
        var hostile = random.Next(6) == 0;
        var dropAt = random.Next(3) == 0 ? -1 : random.Next(1, 2 * limit + 2);
        var pageRandom = new ConcurrentDictionary<int, List<(string, bool, long)>>();
        var pageSeed = random.Next();
        await using var server = ScriptedFileServer.Start();
        server.Listing = (_, page) => endless || page < pages
            ? pageRandom.GetOrAdd(page, p => Page(new Random(HashCode.Combine(pageSeed, p)), p, perPage, hostile, directories: true))
            : null;
        server.RewriteBody = Mutating(random);
        var label = $"listing case {i} (limit {limit}, {perPage} a page, {(endless ? "endless" : $"{pages} pages")}{(hostile ? ", hostile names" : "")}" +
            $"{(server.RewriteBody is null ? "" : ", mutated")}, drop at {dropAt})";
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions()) { ListingNameLimit = limit };
        var names = new HashSet<string>(StringComparer.Ordinal);
        var returned = 0;
        var droppedAfter = -1;
        var listing = client.ListAsync(server.Location("share", "dir")).GetAsyncEnumerator();
        try
        {
            for (; returned < 3000; returned++)
            {
                if (returned == dropAt)
                {
                    server.DropConnection();
                    droppedAfter = returned;
                }
                if (!await listing.MoveNextAsync().AsTask().WaitAsync(StepBound))
                {
                    break;
                }
                if (!names.Add(listing.Current.Name) && !hostile && server.RewriteBody is null)
                {
                    report.Fail($"{label}: '{listing.Current.Name}' returned twice (after {returned} names)");
                    return;
                }
            }
            report.Accept();
        }
        catch (SmbHandleLostException ex) when (droppedAfter >= 0 && returned <= limit && !hostile && server.RewriteBody is null)
        {
            report.Fail($"{label}: refused to go on after {returned} names, within the limit of {limit}: {ex.Message}");
        }
        catch (Exception ex)
        {
            Ended(ex, $"{label} after {returned} names", report);
        }
        finally
        {
            await DisposeBoundedAsync(listing.DisposeAsync(), label, report);
        }
    }

    private static async Task DownloadCaseAsync(int i, Random random, FuzzReport report)
    {
        var perPage = random.Next(1, 60);
        var concurrency = random.Next(1, 9);
        var files = random.Next(1, 80);
        var hostile = random.Next(3) == 0;
        var pageSeed = random.Next();
        var servedFiles = 0L;
        var pages = new ConcurrentDictionary<(string, int), List<(string, bool, long)>>();
        await using var server = ScriptedFileServer.Start();
        server.Content = "fuzz"u8.ToArray();
        // The top directory never ends; directories below it hold a page or two.
        server.Listing = (path, page) =>
        {
            if (path.Length > 0 && page >= 2 || path.Count(c => c == '\\') > 3)
            {
                return null;
            }
            var entries = pages.GetOrAdd((path, page), key => Page(new Random(HashCode.Combine(pageSeed, key.Item1, key.Item2)), key.Item2, perPage, hostile, directories: true));
            Interlocked.Add(ref servedFiles, entries.Count(e => !e.Item2));
            return entries;
        };
        server.RewriteBody = Mutating(random);
        var label = $"get -r case {i} ({perPage} a page, {concurrency} transfers, stop after {files} files{(hostile ? ", hostile names" : "")}{(server.RewriteBody is null ? "" : ", mutated")})";
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        var scratch = Directory.CreateTempSubdirectory("smb-fuzz-getr-");
        var target = Path.Combine(scratch.FullName, "target");
        using var cts = new CancellationTokenSource();
        try
        {
            var download = client.DownloadDirectoryAsync(server.Location("share"), target, concurrency, cts.Token);
            var reads = 0;
            var clock = Stopwatch.StartNew();
            while (!download.IsCompleted && clock.Elapsed < StepBound)
            {
                reads = server.Requests.Count(s => s.Is(Smb2Command.Read));
                // The walk stays close to the transfers: the files it listed are those they took, the queue (4 per
                // transfer), those in flight, and what is left of the page it is on (a mutated page may hide names the
                // count below includes: the bound is checked on the server's own pages only).
                var listed = Interlocked.Read(ref servedFiles);
                if (server.RewriteBody is null && listed > reads + (5L * concurrency) + (2L * perPage))
                {
                    report.Fail($"{label}: the walk listed {listed} files while the transfers had read {reads}");
                    break;
                }
                if (reads >= files)
                {
                    break;
                }
                await Task.WhenAny(download, Task.Delay(20));
            }
            await cts.CancelAsync();
            try
            {
                await download.WaitAsync(StepBound);
                report.Accept();
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                report.Accept(); // stopped by the case, as asked
            }
            catch (Exception ex) when (ex is SmbException or OperationCanceledException)
            {
                report.Typed(ex);
            }
            catch (IOException ex) when (ex.InnerException is null && ex.Message.Contains(target, StringComparison.Ordinal))
            {
                // A name the server may send that the local file system cannot hold (longer than 255 bytes as UTF-8):
                // reported as local file errors are, naming the path.
                report.Typed(ex);
            }
            catch (TimeoutException)
            {
                report.Fail($"{label}: not ended {StepBound.TotalSeconds} s after its cancellation (hang)");
            }
            catch (Exception ex)
            {
                report.Fail($"{label}: untyped {ex.GetType().Name}: {ex.Message}");
            }
            // Whatever the names, nothing lands outside the target directory.
            var outside = Directory.EnumerateFileSystemEntries(scratch.FullName).Where(e => e != target).ToList();
            if (outside.Count > 0)
            {
                report.Fail($"{label}: wrote outside the target: {string.Join(", ", outside)}");
            }
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    /// <summary>
    /// A burst of oplock break notifications for a handle the client holds (some for other FileIds, some mutated), at a
    /// server slow to answer acknowledgments: one acknowledgment in flight and one waiting per handle, so the burst costs
    /// a few acknowledgments, not one per break; the handle still reads afterwards.
    /// </summary>
    private static async Task BreakCaseAsync(int i, Random random, FuzzReport report)
    {
        var burst = random.Next(1, 600);
        await using var server = ScriptedFileServer.Start();
        server.Content = new byte[4 << 20]; // large: the stream keeps its handle open (a small file is read and closed at once)
        server.BreakAckDelay = TimeSpan.FromMilliseconds(random.Next(20, 80));
        server.GrantOplock = OplockLevel.Batch; // a handle with an oplock: its breaks are acknowledged
        var label = $"break case {i} (burst of {burst}, acknowledgments answered after {server.BreakAckDelay.TotalMilliseconds} ms)";
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        try
        {
            await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(StepBound);
            var held = server.LastFileId;
            var frames = new List<byte>();
            var forHeld = 0;
            var intact = 0;
            for (var n = 0; n < burst; n++)
            {
                var fileId = random.Next(8) == 0 ? new Smb2FileId((ulong)random.NextInt64(), (ulong)random.NextInt64()) : held;
                var message = new byte[Smb2Header.Size + OplockBreak.AcknowledgmentSize];
                new Smb2Header { Command = Smb2Command.OplockBreak, Flags = Smb2HeaderFlags.ServerToRedir, MessageId = ulong.MaxValue }.WriteTo(message);
                OplockBreak.WriteAcknowledgment(message.AsSpan(Smb2Header.Size), random.Next(2) == 0 ? OplockLevel.LevelII : OplockLevel.None, fileId);
                if (fileId.Equals(held))
                {
                    forHeld++; // mutated or not: a mutation may leave it a valid break for the handle
                }
                if (random.Next(10) == 0)
                {
                    // The body mutated, the header and the StructureSize field's presence kept: a header naming a request
                    // never sent, or a message too short to hold a StructureSize, ends the link (as it must), and this
                    // case is about the acknowledgments of a handle that stays. A malformed break is ignored.
                    var body = MutatedBody(message.AsSpan(Smb2Header.Size), random);
                    message = [.. message.AsSpan(0, Smb2Header.Size), .. (body.Length >= 2 ? body : message.AsSpan(Smb2Header.Size, 2))];
                }
                else if (fileId.Equals(held))
                {
                    intact++;
                }
                frames.AddRange(new byte[] { 0, (byte)(message.Length >> 16), (byte)(message.Length >> 8), (byte)message.Length });
                frames.AddRange(message);
            }
            await server.SendUnsolicitedAsync([.. frames]);
            // The handle still reads while the slow server holds acknowledgments.
            var content = new byte[6];
            await stream.ReadExactlyAsync(content).AsTask().WaitAsync(StepBound);
            await Task.Delay(server.BreakAckDelay * 3);
            // The limit itself, whatever the timing: never two acknowledgments for the handle unanswered at once, and
            // never more acknowledgments than breaks for it (later breaks replace the one waiting).
            if (server.MaxAcksOutstanding > 1 || server.BreakAcks > forHeld || (intact > 0 && server.BreakAcks == 0))
            {
                report.Fail($"{label}: {server.BreakAcks} acknowledgments for {forHeld} breaks of the held handle, up to {server.MaxAcksOutstanding} unanswered at once (at most 1)");
            }
            report.Accept();
        }
        catch (Exception ex)
        {
            Ended(ex, label, report);
        }
    }

    /// <summary>A case that ended in an exception: typed is an outcome, a step over the bound a hang, anything else a failure.</summary>
    private static void Ended(Exception ex, string label, FuzzReport report)
    {
        switch (ex)
        {
            case SmbException or OperationCanceledException:
                report.Typed(ex);
                break;
            case TimeoutException:
                report.Fail($"{label}: a step took over {StepBound.TotalSeconds} s (hang)");
                break;
            default:
                report.Fail($"{label}: untyped {ex.GetType().Name}: {ex.Message}");
                break;
        }
    }

    private static async Task DisposeBoundedAsync(ValueTask disposing, string label, FuzzReport report)
    {
        try
        {
            await disposing.AsTask().WaitAsync(StepBound);
        }
        catch (TimeoutException)
        {
            report.Fail($"{label}: disposing the listing hung");
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            // Closing the directory on a failed connection: typed, fine.
        }
    }
}
