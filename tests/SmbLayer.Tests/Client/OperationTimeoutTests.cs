using SmbLayer.Protocol;

namespace SmbLayer.Tests.Client;

/// <summary>
/// <see cref="SmbClientOptions.OperationTimeout"/>: a call ends by its deadline whatever it waits for, in hard mode too,
/// where nothing else would end it: a reply that never comes, STATUS_PENDING that never ends, "try again" answers, a
/// server that hangs while the client connects. A stream's later calls each begin their own deadline. Every other
/// bound is set far out (request timeout 5 min, connect timeout 60 s), so only the 2 s limit can end these calls
/// before <see cref="Bound"/>.
/// </summary>
public class OperationTimeoutTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    /// <summary>Well above the limit, far below every other bound the calls have.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static SmbClient HardClient(TimeSpan? operationTimeout)
    {
        var options = ScriptedFileServer.ClientOptions();
        options.FailureMode = SmbFailureMode.Hard;
        options.RequestTimeout = TimeSpan.FromMinutes(5);
        options.ConnectTimeout = TimeSpan.FromSeconds(60);
        options.OperationTimeout = operationTimeout;
        return new SmbClient(options);
    }

    /// <summary>
    /// Connects <paramref name="client"/> (authenticated, tree connected) with no time limit, so a call under the limit
    /// spends it on what the test stages, not on a cold process's first connection.
    /// </summary>
    private static async Task ConnectAsync(SmbClient client, ScriptedFileServer server) =>
        await (await client.WithOperationTimeout(null).OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound)).DisposeAsync();

    /// <summary>The timeout a call failed with, directly or as the cause of a stream's <see cref="IOException"/>.</summary>
    private static async Task<SmbTimeoutException> TimesOutAsync(Func<Task> call)
    {
        var error = await Record.ExceptionAsync(() => call().WaitAsync(Bound));
        Assert.NotNull(error);
        Assert.IsNotType<TimeoutException>(error); // the test's own bound: the call did not end
        return error as SmbTimeoutException ?? Assert.IsType<SmbTimeoutException>(error.InnerException);
    }

    [Fact]
    public async Task HardClient_ServerStopsAnswering_GetInfoEndsByTheTimeLimit()
    {
        await using var server = ScriptedFileServer.Start();
        await using var client = HardClient(Limit);
        await ConnectAsync(client, server);

        server.Unresponsive = true;
        var error = await TimesOutAsync(() => client.GetInfoAsync(server.Location("share", "f.bin")));
        Assert.Contains("time limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HardClient_ServerHangsAtNegotiate_ConnectingEndsByTheTimeLimit()
    {
        await using var server = ScriptedFileServer.Start();
        server.Unresponsive = true;
        await using var client = HardClient(Limit);

        var error = await TimesOutAsync(() => client.GetInfoAsync(server.Location("share", "f.bin")));
        Assert.Contains("time limit of 2 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("Connecting to 127.0.0.1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadPendingForever_EndsByTheTimeLimit_NotByItsExtensions_AndIsCancelled()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = new byte[100];
        server.ReadStatus = (_, _) => NtStatus.Pending;
        await using var client = HardClient(Limit);
        await ConnectAsync(client, server);
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        var error = await TimesOutAsync(() => stream.ReadAsync(new byte[10]).AsTask());
        Assert.Contains("time limit", error.Message, StringComparison.Ordinal);
        await server.WaitForAsync(Smb2Command.Cancel).WaitAsync(Bound);
    }

    [Fact]
    public async Task TryAgainAnswers_AViewsTimeLimit_EndsTheCall_NamingTheStatus()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = new byte[100];
        server.ReadStatus = (_, _) => NtStatus.ServerUnavailable;
        await using var client = HardClient(operationTimeout: null); // the view sets it
        var view = client.WithOperationTimeout(Limit);
        await ConnectAsync(client, server);
        await using var stream = await view.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        // In hard mode "try again" goes on for as long as the server answers so; with a time limit, until the limit.
        var error = await TimesOutAsync(() => stream.ReadAsync(new byte[10]).AsTask());
        Assert.Contains("time limit of 2 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("STATUS_SERVER_UNAVAILABLE", error.Message, StringComparison.Ordinal);
        Assert.True(server.Requests.Count(s => s.Is(Smb2Command.Read)) > 1, "the call tried again before the limit ended it");
    }

    [Fact]
    public async Task Stream_ReadLongAfterItsOpen_HasATimeLimitOfItsOwn()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = [1, 2, 3, 4, 5];
        await using var client = HardClient(Limit);
        await ConnectAsync(client, server);
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);

        await Task.Delay(Limit * 1.5); // past the deadline of the call that opened the stream
        var buffer = new byte[5];
        Assert.Equal(5, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.Equal(server.Content, buffer);
    }

    [Fact]
    public void WithOperationTimeout_RefusesANonPositiveLimit_AndTakesNoneForNull()
    {
        var client = new SmbClient(ScriptedFileServer.ClientOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => client.WithOperationTimeout(TimeSpan.Zero));
        Assert.Null(client.WithOperationTimeout(null).Options.OperationTimeout);
    }
}
