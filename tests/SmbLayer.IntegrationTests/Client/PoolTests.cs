using System.Diagnostics;
using SmbLayer.IntegrationTests.Faults;

namespace SmbLayer.IntegrationTests.Client;

[Collection("samba-faults")]
public sealed class PoolTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    [SambaFact]
    public async Task IdleConnection_ClosedAfterIdleTimeout_ThenReopenedOnDemand()
    {
        var name = NewFile("idle", 10, out _);
        await using var client = NewClient(SmbFailureMode.Soft, configure: o => o.IdleTimeout = TimeSpan.FromSeconds(1));
        await client.GetInfoAsync(Server.Url(name));
        Assert.Equal(1, client.PooledConnectionCount);
        var sw = Stopwatch.StartNew();
        while (client.PooledConnectionCount != 0 && sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(100);
        }
        Assert.Equal(0, client.PooledConnectionCount);
        Assert.Equal(10, (await client.GetInfoAsync(Server.Url(name))).Size);
        Assert.Equal(1, client.PooledConnectionCount);
    }

    [SambaFact]
    public async Task WithFailureMode_OverridesPerCall_SharesTheConnection()
    {
        var name = NewFile("mode", 4 * 1024 * 1024, out _);
        await using var proxy = FaultProxy.Start(Server.Port);
        // The client is hard; one call made through a soft view gives up, while the client itself would wait.
        await using var client = NewClient(SmbFailureMode.Hard, configure: FastLiveness);
        var soft = client.WithFailureMode(SmbFailureMode.Soft, TimeSpan.FromSeconds(1));
        await client.GetInfoAsync(Url(proxy, name));
        await soft.GetInfoAsync(Url(proxy, name));
        Assert.Equal(1, client.PooledConnectionCount);

        proxy.Refuse();
        proxy.ResetAll();
        await Assert.ThrowsAsync<SmbTimeoutException>(() => soft.GetInfoAsync(Url(proxy, name))).WaitAsync(Bound);
        var hardCall = client.GetInfoAsync(Url(proxy, name));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(hardCall.IsCompleted, "the hard call gave up instead of waiting");
        proxy.Restore();
        Assert.Equal(4 * 1024 * 1024, (await hardCall.WaitAsync(Bound)).Size);
        await soft.DisposeAsync(); // a view owns nothing: the client keeps working
        Assert.Equal(4 * 1024 * 1024, (await client.GetInfoAsync(Url(proxy, name))).Size);
    }
}
