using System.Net;
using System.Net.Sockets;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a real server, for fault injection: black-hole (stop
/// forwarding in both directions and never close, like a vanished host), refuse new connections
/// (a stopped server), reset every connection (RST), delay and throttle. Everything it starts it
/// stops on dispose; it only ever connects to 127.0.0.1.
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

    private FaultProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public static FaultProxy Start(int targetPort) => new(targetPort);

    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted { get; private set; }

    /// <summary>Extra delay before each forwarded chunk.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Bytes per second in each direction; 0 for unlimited.</summary>
    public int BytesPerSecond { get; set; }

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
        client.NoDelay = true;
        try
        {
            await GateAsync().WaitAsync(_stop.Token); // a black-holed host does not even get the connection through
            await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
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
        await Task.WhenAll(PumpAsync(client, server, pair), PumpAsync(server, client, pair));
        lock (_lock)
        {
            _pairs.Remove(pair);
        }
        pair.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to, Pair pair)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await GateAsync().WaitAsync(_stop.Token);
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
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
                if (BytesPerSecond > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)n / BytesPerSecond), _stop.Token);
                }
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
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
        public void Reset()
        {
            foreach (var s in new[] { client, server })
            {
                try
                {
                    s.LingerState = new LingerOption(true, 0);
                    s.Close();
                }
                catch (Exception)
                {
                    // Already closed.
                }
            }
        }

        public void Dispose()
        {
            client.Dispose();
            server.Dispose();
        }
    }
}
