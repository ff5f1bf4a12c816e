using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// A loopback TCP proxy in front of a real server that plays someone on the path: it forwards Direct TCP frames
/// (MS-SMB2 §2.1) unchanged until <see cref="RewriteNewConnections"/>; from then on, on every connection it accepts,
/// it passes the server's NEGOTIATE response through the rewrite it was started with (the response is unsigned, so
/// nothing on the wire gives the change away). <see cref="ResetAll"/> resets the current connections (RST), which
/// makes the client reconnect. It records the commands the client sent on each connection. It only connects to
/// 127.0.0.1, and everything it starts it stops on dispose.
/// </summary>
public sealed class NegotiateRewritingProxy : IAsyncDisposable
{
    private const int FrameHeaderSize = 4;
    private const int Smb2HeaderSize = 64;
    private const int CommandOffset = 12;
    private const int FlagsOffset = 16;
    private const uint ServerToRedir = 0x1;
    private const ushort NegotiateCommand = 0;

    private readonly int _targetPort;
    private readonly Action<byte[]> _rewrite;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Connection> _connections = [];
    private readonly Task _acceptLoop;
    private volatile bool _rewriting;

    private NegotiateRewritingProxy(int targetPort, Action<byte[]> rewrite)
    {
        _targetPort = targetPort;
        _rewrite = rewrite;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>
    /// Starts forwarding to 127.0.0.1:<paramref name="targetPort"/>. <paramref name="rewrite"/> gets a NEGOTIATE
    /// response message (SMB2 header first, no Direct TCP header) to change in place.
    /// </summary>
    public static NegotiateRewritingProxy Start(int targetPort, Action<byte[]> rewrite) => new(targetPort, rewrite);

    /// <summary>Clears SMB2_NEGOTIATE_SIGNING_REQUIRED (0x0002) in a NEGOTIATE response's SecurityMode (MS-SMB2 §2.2.4).</summary>
    public static void ClearSigningRequired(byte[] negotiateResponse)
    {
        var securityMode = negotiateResponse.AsSpan(Smb2HeaderSize + 2, 2);
        BinaryPrimitives.WriteUInt16LittleEndian(securityMode, (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(securityMode) & ~0x0002));
    }

    public int Port { get; }

    /// <summary>From now on, every newly accepted connection has its NEGOTIATE response rewritten.</summary>
    public void RewriteNewConnections() => _rewriting = true;

    /// <summary>Every connection accepted so far, in order.</summary>
    public IReadOnlyList<Connection> Connections
    {
        get
        {
            lock (_connections)
            {
                return [.. _connections];
            }
        }
    }

    /// <summary>Resets (RST) every current connection on both sides.</summary>
    public void ResetAll()
    {
        foreach (var c in Connections)
        {
            c.Reset();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            var connection = new Connection(client, _rewriting);
            lock (_connections)
            {
                _connections.Add(connection);
            }
            _ = Task.Run(() => ServeAsync(connection));
        }
    }

    private async Task ServeAsync(Connection c)
    {
        try
        {
            await c.Server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            await Task.WhenAll(PumpAsync(c.Client, c.Server, c, toClient: false), PumpAsync(c.Server, c.Client, c, toClient: true));
        }
        catch (Exception)
        {
            c.Reset();
        }
    }

    /// <summary>Forwards whole frames, so a NEGOTIATE response can be changed before any of it goes on.</summary>
    private async Task PumpAsync(Socket from, Socket to, Connection c, bool toClient)
    {
        var header = new byte[FrameHeaderSize];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                if (!await ReceiveExactlyAsync(from, header))
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                var frame = new byte[BinaryPrimitives.ReadUInt32BigEndian(header) & 0x00FFFFFF];
                if (!await ReceiveExactlyAsync(from, frame))
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                var smb2 = frame.Length >= Smb2HeaderSize && frame[0] == 0xFE && frame[1] == (byte)'S' && frame[2] == (byte)'M' && frame[3] == (byte)'B';
                var command = smb2 ? BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(CommandOffset)) : (ushort?)null;
                if (!toClient)
                {
                    c.RecordClientCommand(command);
                }
                else if (c.Rewrites && command == NegotiateCommand
                    && (BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(FlagsOffset)) & ServerToRedir) != 0)
                {
                    _rewrite(frame);
                    c.NegotiateRewritten = true;
                }
                await c.SendFrameAsync(to, header, frame, toClient, _stop.Token);
            }
        }
        catch (Exception)
        {
            c.Reset();
        }
    }

    private async Task<bool> ReceiveExactlyAsync(Socket from, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await from.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, _stop.Token);
            if (n == 0)
            {
                return false;
            }
            read += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        ResetAll();
        try
        {
            await _acceptLoop;
        }
        catch (Exception)
        {
            // Stopping.
        }
        foreach (var c in Connections)
        {
            c.Dispose();
        }
        _stop.Dispose();
    }

    /// <summary>One client connection through the proxy.</summary>
    public sealed class Connection(Socket client, bool rewrites) : IDisposable
    {
        private readonly List<ushort?> _clientCommands = [];

        /// <summary>Serialises what goes to the client: forwarded frames and injected ones never interleave.</summary>
        private readonly SemaphoreSlim _toClient = new(1, 1);

        internal Socket Client { get; } = client;

        /// <summary>Sends one SMB2 message to the client as a frame of its own, between two forwarded frames (someone on the path injecting it).</summary>
        public async Task InjectToClientAsync(byte[] message)
        {
            var header = new byte[FrameHeaderSize];
            BinaryPrimitives.WriteUInt32BigEndian(header, (uint)message.Length);
            await SendFrameAsync(Client, header, message, toClient: true, CancellationToken.None);
        }

        internal async Task SendFrameAsync(Socket to, byte[] header, byte[] frame, bool toClient, CancellationToken cancellationToken)
        {
            if (!toClient)
            {
                await to.SendAsync(header, SocketFlags.None, cancellationToken);
                await to.SendAsync(frame, SocketFlags.None, cancellationToken);
                return;
            }
            await _toClient.WaitAsync(cancellationToken);
            try
            {
                await to.SendAsync(header, SocketFlags.None, cancellationToken);
                await to.SendAsync(frame, SocketFlags.None, cancellationToken);
            }
            finally
            {
                _toClient.Release();
            }
        }
        internal Socket Server { get; } = new(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

        /// <summary>Whether this connection's NEGOTIATE response is rewritten.</summary>
        public bool Rewrites { get; } = rewrites;

        /// <summary>True once the NEGOTIATE response went to the client rewritten.</summary>
        public bool NegotiateRewritten { get; internal set; }

        /// <summary>The SMB2 command of each frame the client sent (its first message; null for a non-SMB2 frame such as TRANSFORM).</summary>
        public IReadOnlyList<ushort?> ClientCommands
        {
            get
            {
                lock (_clientCommands)
                {
                    return [.. _clientCommands];
                }
            }
        }

        internal void RecordClientCommand(ushort? command)
        {
            lock (_clientCommands)
            {
                _clientCommands.Add(command);
            }
        }

        internal void Reset() => SocketAbort.Reset(Client, Server);

        public void Dispose()
        {
            Client.Dispose();
            Server.Dispose();
            _toClient.Dispose();
        }
    }
}
