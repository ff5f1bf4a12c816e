using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>A request as the scripted peer received it.</summary>
internal sealed record ReceivedMessage(Smb2Header Header, byte[] Message)
{
    public ReadOnlySpan<byte> Body => Message.AsSpan(Smb2Header.Size);
}

/// <summary>
/// An in-process SMB2 "server" on a loopback socket whose every reply the test writes by hand,
/// so exact orderings (out of order, interim, credit starvation, bad frames) can be staged.
/// </summary>
internal sealed class ScriptedPeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private Socket? _socket;
    private NetworkStream? _stream;

    private ScriptedPeer(TcpListener listener) => _listener = listener;

    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Called with every message the peer reads, in arrival order, before the script sees it.</summary>
    public Action<ReceivedMessage>? OnReceived { get; set; }

    /// <summary>
    /// A peer that only listens on <paramref name="port"/>: the code under test (e.g. an SmbClient's pool)
    /// opens its connections itself, and the script takes each with <see cref="AcceptAgainAsync"/>.
    /// </summary>
    public static ScriptedPeer Listen(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return new ScriptedPeer(listener);
    }

    /// <summary>Starts a peer and a connection to it, marked Ready as if 3.1.1 with large MTU had been negotiated.</summary>
    /// <param name="connect">
    /// Opens the connection; <see cref="SmbConnection.ConnectAsync"/> when null. A test that needs the connection opened in
    /// a particular async flow passes its own, so the peer's own work stays out of that flow.
    /// </param>
    /// <param name="receiveBuffer">
    /// The peer socket's receive buffer (0: the system's, megabytes on loopback). A small one makes what the peer has not
    /// read yet wait in the client's send buffer, as behind a slow link, instead of being acknowledged at once.
    /// </param>
    public static async Task<(SmbConnection Connection, ScriptedPeer Peer)> StartAsync(ConnectionSettings? settings = null, bool largeMtu = true, bool markReady = true,
        Func<SmbConnection, Task>? connect = null, int receiveBuffer = 0)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        if (receiveBuffer > 0)
        {
            listener.Server.ReceiveBufferSize = receiveBuffer; // before listen: the accepted socket inherits it
        }
        listener.Start();
        var peer = new ScriptedPeer(listener);
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var connection = new SmbConnection("127.0.0.1", port, settings ?? new ConnectionSettings());
        var accept = listener.AcceptSocketAsync();
        await (connect is null ? connection.ConnectAsync(CancellationToken.None) : connect(connection));
        peer._socket = await accept.WaitAsync(StepTimeout);
        peer._stream = new NetworkStream(peer._socket, ownsSocket: true);
        if (!markReady)
        {
            return (connection, peer); // the test runs NEGOTIATE itself
        }
        connection.MarkReady(new NegotiatedParameters { Dialect = SmbDialect.Smb311, Capabilities = largeMtu ? 0x4u : 0u, MaxReadSize = 8 << 20, MaxWriteSize = 8 << 20 });
        return (connection, peer);
    }

    /// <summary>
    /// Starts a peer that only listens: the code under test (an <see cref="SmbClient"/>, say) connects to
    /// <see cref="Port"/> by itself, and the test takes that connection with <see cref="AcceptAsync"/>.
    /// </summary>
    public static ScriptedPeer Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new ScriptedPeer(listener);
    }

    /// <summary>The loopback port the peer listens on.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Takes the client's first connection (a peer made by <see cref="Listen"/>).</summary>
    public Task AcceptAsync() => AcceptAgainAsync();

    /// <summary>
    /// Gives the client <paramref name="credits"/> credits to work with: it sends one request on the
    /// single credit a fresh connection has, and the peer answers it granting that many.
    /// </summary>
    public async Task GrantCreditsAsync(SmbConnection connection, ushort credits)
    {
        var prime = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await ReplyAsync(await ReadRequestAsync(), credits: credits);
        (await prime.WaitAsync(StepTimeout)).Dispose();
    }

    /// <summary>How fast the peer reads what the client sends (bytes per second; 0: as fast as it comes): a slow uplink.</summary>
    public int ReadBytesPerSecond { get; set; }

    private async Task ReadExactlyAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var rate = ReadBytesPerSecond;
            var piece = rate > 0 ? Math.Min(buffer.Length - done, Math.Max(1024, rate / 20)) : buffer.Length - done;
            await _stream!.ReadExactlyAsync(buffer.AsMemory(done, piece), cancellationToken);
            done += piece;
            if (rate > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)piece / rate), cancellationToken);
            }
        }
    }

    /// <summary>Reads one frame and returns each message in it.</summary>
    public async Task<List<ReceivedMessage>> ReadFrameAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? StepTimeout);
        var header = new byte[4];
        await ReadExactlyAsync(header, cts.Token);
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(header);
        var frame = new byte[length];
        await ReadExactlyAsync(frame, cts.Token);
        var messages = new List<ReceivedMessage>();
        var offset = 0;
        while (true)
        {
            var h = Smb2Header.ReadFrom(frame.AsSpan(offset));
            var end = h.NextCommand == 0 ? length : offset + (int)h.NextCommand;
            var message = new ReceivedMessage(h, frame[offset..end]);
            OnReceived?.Invoke(message);
            messages.Add(message);
            if (h.NextCommand == 0)
            {
                return messages;
            }
            offset = end;
        }
    }

    /// <summary>Reads one frame and returns its bytes after the Direct TCP header, unparsed (e.g. a TRANSFORM message).</summary>
    public async Task<byte[]> ReadRawFrameAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? StepTimeout);
        var header = new byte[4];
        await _stream!.ReadExactlyAsync(header, cts.Token);
        var frame = new byte[(int)BinaryPrimitives.ReadUInt32BigEndian(header)];
        await _stream.ReadExactlyAsync(frame, cts.Token);
        return frame;
    }

    /// <summary>Reads one frame that must hold exactly one message.</summary>
    public async Task<ReceivedMessage> ReadRequestAsync(TimeSpan? timeout = null)
    {
        var messages = await ReadFrameAsync(timeout);
        Assert.Single(messages);
        return messages[0];
    }

    /// <summary>True when nothing arrives within <paramref name="quiet"/>.</summary>
    public async Task<bool> IsQuietAsync(TimeSpan quiet)
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(quiet);
        try
        {
            var n = await _stream!.ReadAsync(buffer, cts.Token);
            throw new InvalidOperationException($"Expected silence, got {n} byte(s).");
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    /// <summary>
    /// True when the client ends the connection (EOF or reset) within <paramref name="timeout"/> without sending
    /// another byte; false when a byte arrives first or the connection stays open.
    /// </summary>
    public async Task<bool> ClosedByClientWithNothingMoreAsync(TimeSpan? timeout = null)
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(timeout ?? StepTimeout);
        try
        {
            return await _stream!.ReadAsync(buffer, cts.Token) == 0;
        }
        catch (IOException)
        {
            return true; // reset
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Reads whatever still arrives until the client's side ends: the byte count, and whether it ended with a reset
    /// (true) or an orderly end of stream (false).
    /// </summary>
    public async Task<(long Bytes, bool Reset)> DrainUntilClosedAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? StepTimeout);
        var buffer = new byte[64 * 1024];
        long total = 0;
        try
        {
            while (true)
            {
                var n = await _stream!.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    return (total, false);
                }
                total += n;
            }
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return (total, true);
        }
    }

    /// <summary>Builds a response message for <paramref name="request"/>.</summary>
    public static byte[] Response(ReceivedMessage request, NtStatus status = NtStatus.Success, ushort credits = 1,
        byte[]? body = null, Smb2HeaderFlags flags = Smb2HeaderFlags.None, ulong asyncId = 0, ulong? messageId = null)
    {
        body ??= [4, 0, 0, 0]; // ECHO-like body: StructureSize 4
        var message = new byte[Smb2Header.Size + body.Length];
        var header = new Smb2Header
        {
            Command = request.Header.Command,
            Status = (uint)status,
            Credits = credits,
            Flags = Smb2HeaderFlags.ServerToRedir | flags | (asyncId != 0 ? Smb2HeaderFlags.AsyncCommand : 0),
            MessageId = messageId ?? request.Header.MessageId,
            AsyncId = asyncId,
            TreeId = request.Header.TreeId,
            SessionId = request.Header.SessionId,
        };
        header.WriteTo(message);
        body.CopyTo(message, Smb2Header.Size);
        return message;
    }

    /// <summary>A CREATE response body (MS-SMB2 §2.2.14) for <paramref name="fileId"/> (1:2 when null), no create contexts.</summary>
    public static byte[] CreateBody(Smb2FileId? fileId = null)
    {
        var body = new byte[96];
        body[0] = 89; // StructureSize
        (fileId ?? new Smb2FileId(1, 2)).WriteTo(body.AsSpan(64));
        return body;
    }

    public Task ReplyAsync(ReceivedMessage request, NtStatus status = NtStatus.Success, ushort credits = 1, byte[]? body = null, ulong asyncId = 0) =>
        SendMessagesAsync(Response(request, status, credits, body, asyncId: asyncId));

    /// <summary>Sends messages as one frame (compounded when more than one; caller pads).</summary>
    public async Task SendMessagesAsync(params byte[][] messages)
    {
        var total = messages.Sum(m => m.Length);
        var frame = new byte[4 + total];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)total);
        var offset = 4;
        foreach (var m in messages)
        {
            m.CopyTo(frame, offset);
            offset += m.Length;
        }
        await SendRawAsync(frame);
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream!.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public void Abort() => _socket?.Close(0);

    /// <summary>Takes the client's next connection (after it reconnected) in place of the current one.</summary>
    /// <param name="timeout"><see cref="StepTimeout"/> when null; <see cref="Timeout.InfiniteTimeSpan"/> waits until the peer is disposed.</param>
    public async Task AcceptAgainAsync(TimeSpan? timeout = null)
    {
        var next = await _listener.AcceptSocketAsync().WaitAsync(timeout ?? StepTimeout);
        _stream?.Dispose();
        _socket = next;
        _stream = new NetworkStream(next, ownsSocket: true);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
        }
        _socket?.Dispose();
    }
}

/// <summary>A minimal request for transport tests: ECHO-shaped, with a settable payload size for credit charge.</summary>
internal sealed class TestRequest(Smb2Command command = Smb2Command.Echo, int payloadSize = 0) : ISmb2Request
{
    public Smb2Command Command { get; } = command;
    public int BodySize => 4;
    public int PayloadSize { get; } = payloadSize;

    public void WriteBody(Span<byte> body)
    {
        body.Clear();
        body[0] = 4;
    }
}

/// <summary>A stand-in signer: the signature is the first 16 bytes of a running XOR, enough to tell right from wrong.</summary>
internal sealed class FakeSigner : IMessageSigner
{
    public void Sign(Span<byte> message)
    {
        Smb2Header.SetSignedFlag(message);
        message.Slice(Smb2Header.SignatureOffset, Smb2Header.SignatureSize).Clear();
        Compute(message).CopyTo(message.Slice(Smb2Header.SignatureOffset));
    }

    public bool Verify(Span<byte> message)
    {
        var saved = message.Slice(Smb2Header.SignatureOffset, Smb2Header.SignatureSize).ToArray();
        message.Slice(Smb2Header.SignatureOffset, Smb2Header.SignatureSize).Clear();
        var expected = Compute(message);
        saved.CopyTo(message.Slice(Smb2Header.SignatureOffset));
        return expected.AsSpan().SequenceEqual(saved);
    }

    private static byte[] Compute(ReadOnlySpan<byte> message)
    {
        var sig = new byte[16];
        for (var i = 0; i < message.Length; i++)
        {
            sig[i % 16] ^= (byte)(message[i] + i);
        }
        return sig;
    }
}
