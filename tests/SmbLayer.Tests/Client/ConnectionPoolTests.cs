using SmbLayer.Client;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Client;

/// <summary>
/// The client's pool of connections, sessions and trees over <see cref="ScriptedFileServer"/>s: the idle sweep,
/// lease counting, and the order in which a reconnect brings sessions, trees and durable handles back.
/// </summary>
public class ConnectionPoolTests
{
    private static readonly TimeSpan Bound = ScriptedFileServer.Bound;

    /// <summary>A short idle timeout: the sweeper looks every 250 ms (its floor) and closes what nobody has held for 300 ms.</summary>
    private static SmbClientOptions QuickIdle()
    {
        var options = ScriptedFileServer.ClientOptions();
        options.IdleTimeout = TimeSpan.FromMilliseconds(300);
        return options;
    }

    private static Task<TreeLease> LeaseAsync(SmbClient client, ScriptedFileServer server, string share = "share") =>
        client.AcquireTreeAsync(SmbPath.Parse(server.Location(share)), CancellationToken.None).WaitAsync(Bound);

    /// <summary>
    /// Waits, without a timed sleep, until the sweeper has looked at every connection pooled now, with each one's
    /// idle time at least the idle timeout had it been idle since now: a connection to a server of its own is used,
    /// let go and waited for until the sweeper closes it; twice, because one sweep closes its connections one after
    /// another, and only once the second is closed is the sweep that closed the first (and looked at the rest) over.
    /// </summary>
    private static async Task WaitForTwoSweepsAsync(SmbClient client)
    {
        for (var i = 0; i < 2; i++)
        {
            await using var clock = ScriptedFileServer.Start();
            (await LeaseAsync(client, clock)).Dispose();
            await clock.WaitForDisconnectAsync();
        }
    }

    private static bool Closing(Seen seen) => seen.Is(Smb2Command.TreeDisconnect) || seen.Is(Smb2Command.Logoff) || seen.Detail == Seen.Disconnected;

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    // ---- idle sweep ----

    [Fact]
    public async Task IdleSweep_ConnectionUnusedPastIdleTimeout_TreeDisconnectedLoggedOffAndClosed_NextUseConnectsAgain()
    {
        await using var server = ScriptedFileServer.Start();
        await using var client = new SmbClient(QuickIdle());
        (await LeaseAsync(client, server)).Dispose();

        await server.WaitForDisconnectAsync();
        Assert.Equal([Smb2Command.TreeDisconnect, Smb2Command.Logoff, null],
            server.Requests.Where(s => !s.Is(Smb2Command.Echo)).TakeLast(3).Select(s => s.Command));
        Assert.Equal(0, client.PooledConnectionCount);

        // The next use builds a new connection, session and tree.
        using var again = await LeaseAsync(client, server);
        Assert.Equal(2, server.Requests.Count(s => s.Is(Smb2Command.Negotiate)));
        Assert.Equal(2, server.Requests.Count(s => s.Is(Smb2Command.TreeConnect)));
    }

    [Fact]
    public async Task IdleSweep_ConnectionWithAStreamOpen_KeptPastIdleTimeout_ClosedOnceTheStreamIsDisposed()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(1000);
        await using var client = new SmbClient(QuickIdle());
        var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        await WaitForTwoSweepsAsync(client);
        Assert.DoesNotContain(server.Requests, Closing);
        Assert.Equal(1, client.PooledConnectionCount);
        var data = new byte[1000];
        await stream.ReadExactlyAsync(data).AsTask().WaitAsync(Bound);
        Assert.Equal(server.Content, data);

        await stream.DisposeAsync().AsTask().WaitAsync(Bound);
        await server.WaitForDisconnectAsync();
        Assert.Single(server.Requests, s => s.Is(Smb2Command.TreeDisconnect));
    }

    // ---- reference counts ----

    [Fact]
    public async Task TreeLease_TakenTwiceReleasedOnce_TreeKept_ReleasedTwice_TreeDisconnected()
    {
        await using var server = ScriptedFileServer.Start();
        await using var client = new SmbClient(QuickIdle());
        var first = await LeaseAsync(client, server);
        var second = await LeaseAsync(client, server);
        Assert.Same(first.Tree, second.Tree);
        Assert.Single(server.Requests, s => s.Is(Smb2Command.TreeConnect));

        first.Dispose();
        await WaitForTwoSweepsAsync(client);
        Assert.DoesNotContain(server.Requests, Closing);
        Assert.Equal(1, client.PooledConnectionCount);

        second.Dispose();
        await server.WaitForDisconnectAsync();
        Assert.Single(server.Requests, s => s.Is(Smb2Command.TreeDisconnect));
        Assert.Single(server.Requests, s => s.Is(Smb2Command.TreeConnect));
    }

    [Fact]
    public async Task TreeLease_OneOfTwoDisposedTwice_CountsAsOneRelease_TreeKept()
    {
        await using var server = ScriptedFileServer.Start();
        await using var client = new SmbClient(QuickIdle());
        var first = await LeaseAsync(client, server);
        using var second = await LeaseAsync(client, server);

        first.Dispose();
        first.Dispose();
        await WaitForTwoSweepsAsync(client);
        Assert.DoesNotContain(server.Requests, Closing);
        Assert.Equal(1, client.PooledConnectionCount);
    }

    // ---- recovery order ----

    [Fact]
    public async Task Reconnect_AfterConnectionLoss_SessionSetUpBeforeTreesConnected_TreesBeforeDurableHandlesReclaimed()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(10000);
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ConnectionRestored += (_, _) => restored.TrySetResult();
        // Two shares on one connection and one session, a durable handle open on each.
        await using var one = await client.OpenReadAsync(server.Location("one", "a.bin")).WaitAsync(Bound);
        await using var two = await client.OpenReadAsync(server.Location("two", "b.bin")).WaitAsync(Bound);
        Assert.Equal(["a.bin DH2Q", "b.bin DH2Q"], server.Requests.Where(s => s.Is(Smb2Command.Create)).Select(s => s.Detail));
        var before = server.Requests.Count;

        server.DropConnection();
        await server.WaitUntilAsync(seen => seen.Count(s => s.Is(Smb2Command.Create) && s.Detail.EndsWith(" DH2C", StringComparison.Ordinal)) == 2,
            "both durable handles reclaimed");
        await restored.Task.WaitAsync(Bound);

        // Both SESSION_SETUP legs, then every tree, then every handle: never a tree before its session, nor a
        // handle before every tree is back.
        var recovery = server.Requests.Skip(before)
            .Where(s => s.Is(Smb2Command.SessionSetup) || s.Is(Smb2Command.TreeConnect) || s.Is(Smb2Command.Create))
            .ToList();
        Assert.Equal([Smb2Command.SessionSetup, Smb2Command.SessionSetup, Smb2Command.TreeConnect, Smb2Command.TreeConnect, Smb2Command.Create, Smb2Command.Create],
            recovery.Select(s => s.Command));
        Assert.Equal([@"\\127.0.0.1\one", @"\\127.0.0.1\two"], recovery.Where(s => s.Is(Smb2Command.TreeConnect)).Select(s => s.Detail).Order());
        Assert.Equal(["a.bin DH2C", "b.bin DH2C"], recovery.Where(s => s.Is(Smb2Command.Create)).Select(s => s.Detail).Order());

        // The reclaimed handles carry on.
        foreach (var stream in new[] { one, two })
        {
            var data = new byte[server.Content.Length];
            await stream.ReadExactlyAsync(data).AsTask().WaitAsync(Bound);
            Assert.Equal(server.Content, data);
        }
    }

    [Fact]
    public async Task Reconnect_ReclaimRefused_Hard_TheHandlesUsersFailWithHandleLost_NoHang()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = Pattern(10000);
        var options = ScriptedFileServer.ClientOptions();
        options.FailureMode = SmbFailureMode.Hard;
        await using var client = new SmbClient(options);
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.HandleLost += (_, _) => lost.TrySetResult();
        await using var reader = await client.OpenReadAsync(server.Location("one", "a.bin")).WaitAsync(Bound);
        var writer = await client.OpenWriteAsync(server.Location("one", "w.bin")).WaitAsync(Bound);
        server.ReclaimStatus = NtStatus.ObjectNameNotFound; // the server never gives the handles back
        server.DropConnection();
        await lost.Task.WaitAsync(Bound);
        await Assert.ThrowsAsync<SmbHandleLostException>(() => reader.ReadAsync(new byte[100]).AsTask().WaitAsync(Bound));
        // Data handed to the lost handle is reported as not written (IOException, wrapping the handle-lost error).
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await writer.WriteAsync(new byte[100]).AsTask().WaitAsync(Bound);
            await writer.FlushAsync().WaitAsync(Bound);
            await writer.DisposeAsync().AsTask().WaitAsync(Bound);
        });
        Assert.IsType<SmbHandleLostException>(error.InnerException);
        await Assert.ThrowsAnyAsync<IOException>(() => writer.DisposeAsync().AsTask().WaitAsync(Bound));
    }
}
