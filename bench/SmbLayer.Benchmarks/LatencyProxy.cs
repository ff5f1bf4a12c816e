using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace SmbLayer.Benchmarks;

/// <summary>
/// A TCP relay on 127.0.0.1 that adds a round trip's delay to every request: what the client
/// sends is held for the delay before it goes on to the server (in order; bandwidth is not
/// limited), and what the server answers is passed back at once through one fixed buffer, so
/// the relay allocates nothing per byte of data. It lets the read-path benchmark show what keeping
/// several requests in flight buys once a round trip costs something; loopback alone has none.
/// </summary>
internal sealed class LatencyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly TimeSpan _delay;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;

    public LatencyProxy(int targetPort, TimeSpan roundTrip)
    {
        _targetPort = targetPort;
        _delay = roundTrip;
        _listener.Start();
        _accepting = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptSocketAsync(_stop.Token);
                var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                client.NoDelay = true;
                await server.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort), _stop.Token);
                lock (_sockets)
                {
                    _sockets.Add(client);
                    _sockets.Add(server);
                }
                _ = RelayDelayedAsync(client, server);
                _ = RelayAsync(server, client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task RelayAsync(Socket from, Socket to)
    {
        try
        {
            var buffer = new byte[1024 * 1024];
            int n;
            while ((n = await from.ReceiveAsync(buffer, _stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, n), _stop.Token);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Closed.
        }
    }

    private async Task RelayDelayedAsync(Socket from, Socket to)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var sender = SendDelayedAsync(queue.Reader, to);
        try
        {
            var buffer = new byte[256 * 1024];
            int n;
            while ((n = await from.ReceiveAsync(buffer, _stop.Token)) > 0)
            {
                queue.Writer.TryWrite((Stopwatch.GetTimestamp() + (long)(_delay.TotalSeconds * Stopwatch.Frequency), buffer[..n]));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Closed.
        }
        queue.Writer.TryComplete();
        await sender;
    }

    private async Task SendDelayedAsync(ChannelReader<(long Due, byte[] Data)> queue, Socket to)
    {
        try
        {
            await foreach (var (due, data) in queue.ReadAllAsync(_stop.Token))
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _stop.Token);
                }
                await to.SendAsync(data, _stop.Token);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }
        _stop.Dispose();
    }
}
