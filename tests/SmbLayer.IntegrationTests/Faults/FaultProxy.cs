using System.Net;
using System.Net.Sockets;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a real server, for fault injection: black-hole (stop
/// forwarding in both directions and never close, like a vanished host), refuse new connections
/// (a stopped server), reset every connection (RST), delay and throttle each direction. Everything
/// it starts it stops on dispose; it only ever connects to loopback (127.0.0.1 unless told another loopback address).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Pair> _pairs = [];
    private readonly object _lock = new();
    private TcpListener _listener;
    private Task _acceptLoop;
    private TaskCompletionSource _flowing = NewOpenGate();
    private volatile bool _refusing;

    /// <summary>Receive buffer of both proxy sockets for a slow link (see <see cref="StartSlowLink"/>).</summary>
    private const int SlowLinkReceiveBuffer = 128 * 1024;

    private readonly int _receiveBuffer;

    /// <summary>Where the server is: 127.0.0.1 unless a test names another loopback address (the AD DC's 127.0.0.10).</summary>
    private readonly IPAddress _target = IPAddress.Loopback;

    private FaultProxy(int targetPort, int receiveBuffer = 0, IPAddress? target = null)
    {
        if (target is not null)
        {
            // Loopback only, ever.
            _target = IPAddress.IsLoopback(target) ? target : throw new ArgumentException($"{target} is not a loopback address", nameof(target));
        }
        _targetPort = targetPort;
        _receiveBuffer = receiveBuffer;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        if (receiveBuffer > 0)
        {
            // Set before listen: accepted sockets inherit it, and the window they advertise is sized by it from the start.
            _listener.Server.ReceiveBufferSize = receiveBuffer;
        }
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public static FaultProxy Start(int targetPort) => new(targetPort);

    /// <summary>A proxy in front of a server on another loopback address.</summary>
    public static FaultProxy Start(IPAddress target, int targetPort) => new(targetPort, target: target);

    /// <summary>
    /// A proxy that is a slow link: <paramref name="uplinkBytesPerSecond"/> toward the server,
    /// <paramref name="downlinkBytesPerSecond"/> back (0: unlimited). Its sockets get small receive buffers, so
    /// what the link cannot carry yet waits in the sender's socket, as behind a real bottleneck. With the default
    /// buffers (megabytes on loopback) the proxy would acknowledge seconds of data at once and hold it: a queue
    /// the sender cannot see.
    /// </summary>
    public static FaultProxy StartSlowLink(int targetPort, int uplinkBytesPerSecond, int downlinkBytesPerSecond = 0) =>
        new(targetPort, SlowLinkReceiveBuffer) { UplinkBytesPerSecond = uplinkBytesPerSecond, DownlinkBytesPerSecond = downlinkBytesPerSecond };

    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted { get; private set; }

    /// <summary>Extra delay before each forwarded chunk.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Bytes per second in each direction; 0 for unlimited. Sets both of the limits below.</summary>
    public int BytesPerSecond
    {
        get => Math.Max(UplinkBytesPerSecond, DownlinkBytesPerSecond);
        set => UplinkBytesPerSecond = DownlinkBytesPerSecond = value;
    }

    /// <summary>Bytes per second from the client to the server; 0 for unlimited.</summary>
    public int UplinkBytesPerSecond { get; set; }

    /// <summary>Bytes per second from the server to the client; 0 for unlimited.</summary>
    public int DownlinkBytesPerSecond { get; set; }

    /// <summary>Stops forwarding on every connection, existing and new; nothing is closed.</summary>
    public void BlackHole()
    {
        lock (_lock)
        {
            if (_flowing.Task.IsCompleted)
            {
                _flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Forwards again (ends a black-hole and a refusal).</summary>
    public void Restore()
    {
        _refusing = false;
        lock (_lock)
        {
            _flowing.TrySetResult();
        }
    }

    /// <summary>New connections are reset at once (the server is down); existing ones are untouched.</summary>
    public void Refuse() => _refusing = true;

    /// <summary>Resets (RST) every current connection on both sides.</summary>
    public void ResetAll()
    {
        Pair[] pairs;
        lock (_lock)
        {
            pairs = [.. _pairs];
            _pairs.Clear();
        }
        foreach (var p in pairs)
        {
            p.Reset();
        }
    }

    private static TaskCompletionSource NewOpenGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    private Task GateAsync()
    {
        lock (_lock)
        {
            return _flowing.Task;
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
            Accepted++;
            if (_refusing)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Close();
                continue;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (_receiveBuffer > 0)
        {
            server.ReceiveBufferSize = _receiveBuffer;
        }
        client.NoDelay = true;
        try
        {
            await GateAsync().WaitAsync(_stop.Token); // a black-holed host does not even get the connection through
            await server.ConnectAsync(_target, _targetPort, _stop.Token);
        }
        catch (Exception)
        {
            client.Dispose();
            server.Dispose();
            return;
        }
        var pair = new Pair(client, server);
        lock (_lock)
        {
            _pairs.Add(pair);
        }
        if (_receiveBuffer > 0)
        {
            // A slow link keeps its pace on threads of its own: pumps on a thread pool that the rest of the test process
            // starves would stall for seconds, and a stalled link is what liveness is meant to notice.
            await Task.WhenAll(
                Task.Factory.StartNew(() => PumpBlocking(client, server, pair, () => UplinkBytesPerSecond), TaskCreationOptions.LongRunning),
                Task.Factory.StartNew(() => PumpBlocking(server, client, pair, () => DownlinkBytesPerSecond), TaskCreationOptions.LongRunning));
        }
        else
        {
            await Task.WhenAll(PumpAsync(client, server, pair, () => UplinkBytesPerSecond), PumpAsync(server, client, pair, () => DownlinkBytesPerSecond));
        }
        lock (_lock)
        {
            _pairs.Remove(pair);
        }
        pair.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to, Pair pair, Func<int> rate)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await GateAsync().WaitAsync(_stop.Token);
                // A throttled direction moves small pieces (a twentieth of a second each), so the pace is even.
                var piece = PieceFor(rate(), buffer.Length);
                var n = await from.ReceiveAsync(buffer.AsMemory(0, piece), SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                // Data that arrived as the black-hole started is held, not delivered, until Restore.
                await GateAsync().WaitAsync(_stop.Token);
                if (Delay > TimeSpan.Zero)
                {
                    await Task.Delay(Delay, _stop.Token);
                }
                if (rate() is > 0 and var limit)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)n / limit), _stop.Token);
                }
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
            pair.Reset();
        }
    }

    /// <summary>How much a pump moves at once: a twentieth of a second at a throttled rate, so the pace is even.</summary>
    private static int PieceFor(int bytesPerSecond, int max) => bytesPerSecond > 0 ? Math.Clamp(bytesPerSecond / 20, 1024, max) : max;

    /// <summary>The pump of a slow link: blocking calls on a dedicated thread, paced by sleeping (no black-hole gate).</summary>
    private void PumpBlocking(Socket from, Socket to, Pair pair, Func<int> rate)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var piece = PieceFor(rate(), buffer.Length);
                var n = from.Receive(buffer, 0, piece, SocketFlags.None);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                if (rate() is > 0 and var limit)
                {
                    Thread.Sleep(TimeSpan.FromSeconds((double)n / limit));
                }
                var sent = 0;
                while (sent < n)
                {
                    sent += to.Send(buffer, sent, n - sent, SocketFlags.None);
                }
            }
        }
        catch (Exception)
        {
            pair.Reset();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        Restore();
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
        _stop.Dispose();
    }

    private sealed class Pair(Socket client, Socket server) : IDisposable
    {
        public void Reset() => SocketAbort.Reset(client, server);

        public void Dispose()
        {
            client.Dispose();
            server.Dispose();
        }
    }
}
