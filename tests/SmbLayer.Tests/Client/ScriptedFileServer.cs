using System.Buffers.Binary;
using System.Net.Sockets;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Tests.Security;
using SmbLayer.Tests.Transport;
using static SmbLayer.Tests.Protocol.WireTestHelpers;

namespace SmbLayer.Tests.Client;

/// <summary>
/// One thing the scripted file server saw, in arrival order: a request (with its offset and length for READ
/// and WRITE, the path for TREE_CONNECT and CREATE), or a connection of the client starting or ending.
/// </summary>
internal sealed record Seen(Smb2Command? Command, long Offset = 0, int Length = 0, string Detail = "")
{
    public const string Connected = "connected";
    public const string Disconnected = "disconnected";

    public bool Is(Smb2Command command) => Command == command;

    public override string ToString() =>
        Command is null ? Detail : $"{Command}{(Detail.Length > 0 ? " " + Detail : "")}{(Length > 0 ? $" @{Offset}+{Length}" : "")}";
}

/// <summary>
/// A whole SMB 3.0.2 file server for an <see cref="SmbClient"/> pointed at it, so the client's streams and pool run
/// end to end with no real server: the <see cref="ScriptedSmbServer"/> answers NEGOTIATE and SESSION_SETUP (real
/// NTLMv2 and keys), and a loop answers the rest from <see cref="Content"/> (every file name holds the same bytes),
/// with hooks for short reads and failed writes. Each connection the client opens, first or after a loss, is taken
/// in turn; <see cref="Requests"/> logs everything in the order it arrived.
/// </summary>
internal sealed class ScriptedFileServer : IAsyncDisposable
{
    public const string User = "alice";
    public const string Domain = "DOM";
    public const string Password = "Secret-1";

    /// <summary>Upper bound of every wait in these tests.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static readonly byte[] ErrorBody = [9, 0, 0, 0, 0, 0, 0, 0, 0];
    private static readonly byte[] FourByteBody = [4, 0, 0, 0];

    private readonly ScriptedPeer _peer;
    private readonly ScriptedSmbServer _smb;
    private readonly object _lock = new();
    private readonly List<Seen> _seen = [];
    private readonly MemoryStream _written = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private volatile bool _stopping;
    private Exception? _failure;
    private uint _nextTreeId = 5;
    private ulong _nextFileId = 0x100;
    private int _breakAcks;
    private int _acksOutstanding;
    private int _maxAcksOutstanding;

    /// <summary>One sender at a time: the answers, and what a test sends unasked.</summary>
    private readonly SemaphoreSlim _sending = new(1, 1);

    private ScriptedFileServer()
    {
        _peer = ScriptedPeer.Listen(out var port);
        Port = port;
        _peer.OnReceived = message => Record(Describe(message));
        _smb = new ScriptedSmbServer(_peer, User, Domain, Password);
    }

    public static ScriptedFileServer Start()
    {
        var server = new ScriptedFileServer();
        server._loop = Task.Run(server.RunAsync);
        return server;
    }

    public int Port { get; }

    /// <summary>The bytes READ answers from (the same for every file name).</summary>
    public byte[] Content { get; set; } = [];

    /// <summary>The size CREATE reports; <see cref="Content"/>'s length when null.</summary>
    public long? EndOfFileAtOpen { get; set; }

    /// <summary>How many bytes to answer a READ(offset, asked) with, at most what the content holds; all of them when null.</summary>
    public Func<long, int, int>? ReadLength { get; set; }

    /// <summary>
    /// The status to answer a READ(offset, length) with instead of the data; null or success reads <see cref="Content"/>.
    /// <see cref="NtStatus.Pending"/> sends the interim answer (with an AsyncId) and never the final one.
    /// </summary>
    public Func<long, int, NtStatus>? ReadStatus { get; set; }

    /// <summary>A hung server: from now on it takes connections and requests and answers none, NEGOTIATE and ECHO included.</summary>
    public bool Unresponsive { get; set; }

    /// <summary>When set, every durable reclaim (DH2C) is answered with this status.</summary>
    public NtStatus? ReclaimStatus { get; set; }

    /// <summary>
    /// What QUERY_DIRECTORY answers: given the directory's path as opened and the page (0 after RESTART_SCANS, then 1, 2 …),
    /// its entries as FileDirectoryInformation (MS-FSCC §2.4.10), or null for STATUS_NO_MORE_FILES. Not set: NOT_SUPPORTED.
    /// </summary>
    public Func<string, int, IReadOnlyList<(string Name, bool Directory, long Size)>?>? Listing { get; set; }

    /// <summary>QUERY_DIRECTORY requests answered so far.</summary>
    public int ListingPages => Volatile.Read(ref _listingPages);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, (string Path, int Page)> _directories = new();
    private int _listingPages;

    /// <summary>Rewrites the body of each successful answer (a broken or hostile server): given the command and the body, returns the body to send.</summary>
    public Func<Smb2Command, byte[], byte[]>? RewriteBody { get; set; }

    /// <summary>The status to answer a WRITE(offset, length) with; success when null. Data of a failed WRITE is not kept.</summary>
    public Func<long, int, NtStatus>? WriteStatus { get; set; }

    /// <summary>A location on this server: a share, or a file on it.</summary>
    public string Location(string share, string? path = null) => $"smb://127.0.0.1:{Port}/{share}{(path is null ? "" : "/" + path)}";

    /// <summary>Client options that reach this server: its credentials, SMB 3.0.2 only.</summary>
    public static SmbClientOptions ClientOptions() => new()
    {
        Credentials = new SmbCredentials(User, Password, Domain),
        MinDialect = SmbDialect.Smb302,
        MaxDialect = SmbDialect.Smb302,
    };

    /// <summary>The FileId of the last CREATE answered (persistent, volatile).</summary>
    public Smb2FileId LastFileId => new(Interlocked.Read(ref _nextFileId), Interlocked.Read(ref _nextFileId) + 0x1000);

    /// <summary>OPLOCK_BREAK acknowledgments received.</summary>
    public int BreakAcks => Volatile.Read(ref _breakAcks);

    /// <summary>The oplock every CREATE is granted (none by default).</summary>
    public OplockLevel GrantOplock { get; set; }

    /// <summary>Most break acknowledgments the client had unanswered at once.</summary>
    public int MaxAcksOutstanding => Volatile.Read(ref _maxAcksOutstanding);

    /// <summary>How long each break acknowledgment waits for its answer (a slow server).</summary>
    public TimeSpan BreakAckDelay { get; set; }

    /// <summary>Sends frames no request asked for (break notifications), between answers.</summary>
    public async Task SendUnsolicitedAsync(byte[] frames)
    {
        await _sending.WaitAsync();
        try
        {
            await _peer.SendRawAsync(frames);
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>Everything seen so far, in arrival order.</summary>
    public IReadOnlyList<Seen> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _seen];
            }
        }
    }

    /// <summary>The bytes successful WRITEs put in the file, at their offsets.</summary>
    public byte[] Written
    {
        get
        {
            lock (_lock)
            {
                return _written.ToArray();
            }
        }
    }

    /// <summary>Waits (at most <see cref="Bound"/>) until <paramref name="condition"/> holds for what was seen.</summary>
    public async Task WaitUntilAsync(Func<IReadOnlyList<Seen>, bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (condition(_seen))
                {
                    return;
                }
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Waited {Bound.TotalSeconds} s for {what}; the server saw: {string.Join(", ", Requests)}" +
                    (_failure is { } f ? $"; the script failed: {f}" : ""));
            }
        }
    }

    /// <summary>Waits until the server has seen a request of <paramref name="command"/> <paramref name="count"/> times.</summary>
    public Task WaitForAsync(Smb2Command command, int count = 1) =>
        WaitUntilAsync(seen => seen.Count(s => s.Is(command)) >= count, $"{count} × {command}");

    /// <summary>Waits until the client's connections have ended <paramref name="count"/> times.</summary>
    public Task WaitForDisconnectAsync(int count = 1) =>
        WaitUntilAsync(seen => seen.Count(s => s.Detail == Seen.Disconnected) >= count, $"{count} disconnection(s)");

    /// <summary>Drops the client's connection as a network failure would (TCP reset).</summary>
    public void DropConnection() => _peer.Abort();

    private void Record(Seen seen)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _seen.Add(seen);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private async Task RunAsync()
    {
        while (!_stopping)
        {
            try
            {
                await _peer.AcceptAgainAsync(Timeout.InfiniteTimeSpan);
            }
            catch (Exception) when (_stopping)
            {
                return;
            }
            Record(new Seen(null, Detail: Seen.Connected));
            try
            {
                while (Unresponsive)
                {
                    await _peer.ReadFrameAsync(Timeout.InfiniteTimeSpan); // taken, never answered
                }
                await _smb.NegotiateAsync(SmbDialect.Smb302, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
                await _smb.SessionSetupAsync(SmbDialect.Smb302);
                while (true)
                {
                    foreach (var message in await _peer.ReadFrameAsync(Timeout.InfiniteTimeSpan))
                    {
                        await AnswerAsync(message);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
            {
                // The client closed or lost the connection (or DropConnection reset it).
            }
            catch (Exception ex)
            {
                // The client sent something the script does not follow: stop talking to it, and tell the test.
                Interlocked.CompareExchange(ref _failure, ex, null);
                _peer.Abort();
            }
            Record(new Seen(null, Detail: Seen.Disconnected));
        }
    }

    private async Task AnswerAsync(ReceivedMessage request)
    {
        if (Unresponsive)
        {
            return;
        }
        var body = request.Body;
        var status = NtStatus.Success;
        ulong asyncId = 0;
        byte[] reply;
        switch (request.Header.Command)
        {
            case Smb2Command.TreeConnect:
                reply = new Le().U16(16).U8(1).U8(0).U32(0).U32(0).U32(0x001F01FF).ToArray();
                break;
            case Smb2Command.Ioctl:
                // FSCTL_VALIDATE_NEGOTIATE_INFO: repeat what NEGOTIATE answered (signed, as ScriptedSmbServer does).
                reply = new Le().U16(49).U16(0).U32(0x00140204).U64(ulong.MaxValue).U64(ulong.MaxValue)
                    .U32(112).U32(0).U32(112).U32(24).U32(0).U32(0)
                    .U32((uint)GlobalCapabilities.LargeMtu).Guid(ScriptedSmbServer.ServerGuid).U16((int)SecurityMode.SigningEnabled).U16((int)SmbDialect.Smb302)
                    .ToArray();
                break;
            case Smb2Command.Create when ReclaimStatus is { } refused && request.Message.AsSpan().IndexOf("DH2C"u8) > 0:
                (status, reply) = (refused, ErrorBody);
                break;
            case Smb2Command.Create:
                reply = CreateBody(durable: request.Message.AsSpan().IndexOf("DH2Q"u8) > 0);
                _directories[BinaryPrimitives.ReadUInt64LittleEndian(reply.AsSpan(64))] =
                    (Utf16(request.Message, BinaryPrimitives.ReadUInt16LittleEndian(body[44..]), BinaryPrimitives.ReadUInt16LittleEndian(body[46..])), 0);
                break;
            case Smb2Command.QueryDirectory when Listing is not null:
                (status, reply) = ListingBody(request);
                break;
            case Smb2Command.Read when ReadStatus?.Invoke(BinaryPrimitives.ReadInt64LittleEndian(body[8..]), BinaryPrimitives.ReadInt32LittleEndian(body[4..]))
                is { } readStatus && readStatus != NtStatus.Success:
                (status, reply) = (readStatus, ErrorBody);
                asyncId = readStatus == NtStatus.Pending ? 0x7000 + request.Header.MessageId : 0;
                break;
            case Smb2Command.Read:
                (status, reply) = ReadBody(BinaryPrimitives.ReadInt64LittleEndian(body[8..]), BinaryPrimitives.ReadInt32LittleEndian(body[4..]));
                break;
            case Smb2Command.Write:
                (status, reply) = WriteBody(request);
                break;
            case Smb2Command.Close:
                reply = new byte[60];
                reply[0] = 60;
                break;
            case Smb2Command.Flush or Smb2Command.Echo or Smb2Command.TreeDisconnect or Smb2Command.Logoff:
                reply = FourByteBody;
                break;
            case Smb2Command.OplockBreak:
                // An acknowledgment (§2.2.24): answered with its own body after the delay a test set, meanwhile other
                // requests are answered. One arriving while another is unanswered is counted (MaxAcksOutstanding).
                Interlocked.Increment(ref _breakAcks);
                var outstanding = Interlocked.Increment(ref _acksOutstanding);
                InterlockedMax(ref _maxAcksOutstanding, outstanding);
                var echoed = request.Body.ToArray();
                _ = Task.Run(async () =>
                {
                    await Task.Delay(BreakAckDelay);
                    Interlocked.Decrement(ref _acksOutstanding);
                    await SendAnswerAsync(request, NtStatus.Success, echoed, 0);
                });
                return;
            case Smb2Command.Cancel:
                return; // CANCEL has no answer of its own
            default:
                (status, reply) = (NtStatus.NotSupported, ErrorBody);
                break;
        }
        if (status == NtStatus.Success && RewriteBody is { } rewrite)
        {
            reply = rewrite(request.Header.Command, reply);
        }
        await SendAnswerAsync(request, status, reply, asyncId);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    private async Task SendAnswerAsync(ReceivedMessage request, NtStatus status, byte[] reply, ulong asyncId)
    {
        var response = ScriptedPeer.Response(request, status, credits: Math.Max((ushort)1, request.Header.Credits), body: reply, asyncId: asyncId);
        if (request.Header.Command == Smb2Command.TreeConnect)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(response.AsSpan(36), Interlocked.Increment(ref _nextTreeId) - 1);
        }
        if (request.Header.IsSigned || request.Header.Command == Smb2Command.Ioctl)
        {
            using var signer = Smb2Signer.Create(SigningAlgorithm.AesCmac, _smb.SigningKey);
            signer.Sign(response);
        }
        await _sending.WaitAsync();
        try
        {
            await _peer.SendMessagesAsync(response);
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>CREATE response (MS-SMB2 §2.2.14): a new FileId, the size, and the DH2Q context when durability was asked for.</summary>
    private byte[] CreateBody(bool durable)
    {
        var fileId = Interlocked.Increment(ref _nextFileId);
        var contexts = durable
            // DH2Q response (§2.2.14.2.12): Timeout 60 s, no flags; the only context, Next = 0.
            ? new Le().U32(0).U16(16).U16(4).U16(0).U16(24).U32(8).Raw("DH2Q"u8).Zeros(4).U32(60000).U32(0).ToArray()
            : new byte[8];
        var endOfFile = EndOfFileAtOpen ?? Content.Length;
        return new Le()
            .U16(89).U8((byte)GrantOplock).U8(0).U32(1)
            .U64(132000000000000000).U64(132000000000000001).U64(132000000000000002).U64(132000000000000003)
            .U64((ulong)endOfFile).U64((ulong)endOfFile).U32(0x80).U32(0) // FILE_ATTRIBUTE_NORMAL
            .U64(fileId).U64(fileId + 0x1000)
            .U32(durable ? 64u + 88 : 0).U32(durable ? (uint)contexts.Length : 0)
            .Raw(contexts)
            .ToArray();
    }

    /// <summary>QUERY_DIRECTORY response (§2.2.34) with FileDirectoryInformation entries from <see cref="Listing"/>.</summary>
    private (NtStatus, byte[]) ListingBody(ReceivedMessage request)
    {
        var body = request.Body;
        var fileId = BinaryPrimitives.ReadUInt64LittleEndian(body[8..]);
        var (path, page) = _directories.TryGetValue(fileId, out var d) ? d : ("", 0);
        if ((body[3] & 0x01) != 0) // RESTART_SCANS
        {
            page = 0;
        }
        _directories[fileId] = (path, page + 1);
        Interlocked.Increment(ref _listingPages);
        var entries = Listing!(path, page);
        if (entries is null || entries.Count == 0)
        {
            return (page == 0 ? NtStatus.NoSuchFile : NtStatus.NoMoreFiles, ErrorBody);
        }
        var buffer = new Le();
        for (var i = 0; i < entries.Count; i++)
        {
            var name = System.Text.Encoding.Unicode.GetBytes(entries[i].Name);
            var length = 64 + name.Length;
            var next = i == entries.Count - 1 ? 0 : (length + 7) & ~7;
            buffer.U32((uint)next).U32(0).U64(132000000000000000).U64(132000000000000000).U64(132000000000000000).U64(132000000000000000)
                .U64((ulong)entries[i].Size).U64((ulong)entries[i].Size).U32(entries[i].Directory ? 0x10u : 0x80u).U32((uint)name.Length).Raw(name);
            if (next != 0)
            {
                buffer.Zeros(next - length);
            }
        }
        var data = buffer.ToArray();
        return (NtStatus.Success, new Le().U16(9).U16(64 + 8).U32((uint)data.Length).Raw(data).ToArray());
    }

    /// <summary>READ response (§2.2.20) from <see cref="Content"/>, or STATUS_END_OF_FILE at and past its end.</summary>
    private (NtStatus, byte[]) ReadBody(long offset, int asked)
    {
        var content = Content;
        var n = offset >= content.Length ? 0 : (int)Math.Min(asked, content.Length - offset);
        if (ReadLength is { } limit)
        {
            n = Math.Clamp(limit(offset, asked), 0, n);
        }
        if (n == 0)
        {
            return (NtStatus.EndOfFile, ErrorBody);
        }
        return (NtStatus.Success, new Le().U16(17).U8(0x50).U8(0).U32((uint)n).U32(0).U32(0).Raw(content.AsSpan((int)offset, n)).ToArray());
    }

    /// <summary>WRITE response (§2.2.22): the data kept at its offset, or the status <see cref="WriteStatus"/> chose.</summary>
    private (NtStatus, byte[]) WriteBody(ReceivedMessage request)
    {
        var body = request.Body;
        var dataOffset = BinaryPrimitives.ReadUInt16LittleEndian(body[2..]);
        var length = BinaryPrimitives.ReadInt32LittleEndian(body[4..]);
        var offset = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
        var status = WriteStatus?.Invoke(offset, length) ?? NtStatus.Success;
        if (status != NtStatus.Success)
        {
            return (status, ErrorBody);
        }
        lock (_lock)
        {
            _written.Position = offset;
            _written.Write(request.Message, dataOffset, length);
        }
        return (NtStatus.Success, new Le().U16(17).U16(0).U32((uint)length).U32(0).U16(0).U16(0).ToArray());
    }

    /// <summary>What the log says of a request: READ and WRITE ranges, TREE_CONNECT's path, CREATE's name and durable context.</summary>
    private static Seen Describe(ReceivedMessage request)
    {
        var body = request.Body;
        var message = request.Message;
        switch (request.Header.Command)
        {
            case Smb2Command.Read:
                return new Seen(Smb2Command.Read, BinaryPrimitives.ReadInt64LittleEndian(body[8..]), BinaryPrimitives.ReadInt32LittleEndian(body[4..]));
            case Smb2Command.Write:
                return new Seen(Smb2Command.Write, BinaryPrimitives.ReadInt64LittleEndian(body[8..]), BinaryPrimitives.ReadInt32LittleEndian(body[4..]));
            case Smb2Command.TreeConnect:
                return new Seen(Smb2Command.TreeConnect, Detail: Utf16(message, BinaryPrimitives.ReadUInt16LittleEndian(body[4..]), BinaryPrimitives.ReadUInt16LittleEndian(body[6..])));
            case Smb2Command.Create:
                var name = Utf16(message, BinaryPrimitives.ReadUInt16LittleEndian(body[44..]), BinaryPrimitives.ReadUInt16LittleEndian(body[46..]));
                var durable = message.AsSpan().IndexOf("DH2C"u8) > 0 ? " DH2C" : message.AsSpan().IndexOf("DH2Q"u8) > 0 ? " DH2Q" : "";
                return new Seen(Smb2Command.Create, Detail: name + durable);
            default:
                return new Seen(request.Header.Command);
        }
    }

    private static string Utf16(byte[] message, int offset, int length) => System.Text.Encoding.Unicode.GetString(message, offset, length);

    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        await _peer.DisposeAsync();
        await _loop.WaitAsync(Bound);
        _written.Dispose();
        if (_failure is { } failure)
        {
            throw new InvalidOperationException($"The scripted server failed: {failure.Message}", failure);
        }
    }
}
