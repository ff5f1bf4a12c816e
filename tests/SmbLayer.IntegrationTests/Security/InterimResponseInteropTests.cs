using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer.IntegrationTests.Security;

/// <summary>
/// Samba's interim (STATUS_PENDING) replies pass the client's checks (docs/SECURITY.md, "Interim responses"): on a
/// session that must sign, Samba signs them and they verify; on one that encrypts, they come encrypted. A CREATE that
/// waits for another client's oplock break goes async: the holder here answers its break a second late, so the
/// second client's CREATE surely gets an interim reply before its answer.
/// </summary>
public sealed class InterimResponseInteropTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [SambaTheory]
    [InlineData(SambaProfile.SigningMandatory)]
    [InlineData(SambaProfile.EncryptionRequired)]
    public async Task CreateWaitingForABreak_GetsSambasInterimReply_CompletesWithoutAProtocolError(SambaProfile profile)
    {
        await using var server = await SambaServer.StartAsync(profile);
        var name = $"interim-{Guid.NewGuid():N}.txt";
        server.WriteShareFile(name, "oplocked");
        SmbClient NewClient() => new(new SmbClientOptions { Credentials = new SmbCredentials(server.UserName, server.Password) });
        await using var holder = NewClient();
        using var lease = await holder.AcquireTreeAsync(SmbPath.Parse(server.Url()), default);
        var broken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Callbacks run before the acknowledgment goes out: holding this one holds the break (and the second CREATE).
        lease.Tree.Breaks!.Register(_ =>
        {
            broken.TrySetResult();
            Thread.Sleep(1000);
        });
        await using var open = await lease.Tree.CreateAsync(new CreateRequest(name)
        {
            DesiredAccess = AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAccess.Read | ShareAccess.Write | ShareAccess.Delete,
            RequestedOplockLevel = OplockLevel.Batch,
        }, lease.Call, HandleDurability.Plain, default);
        Assert.Equal(OplockLevel.Batch, open.CreateResponse.OplockLevel);

        await using var other = NewClient();
        var lost = 0;
        other.ConnectionLost += (_, _) => Interlocked.Increment(ref lost);
        var started = DateTime.UtcNow;
        await using (var stream = await other.OpenReadAsync(server.Url(name)).WaitAsync(Bound))
        {
            Assert.True(broken.Task.IsCompleted);
            Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(900), "the CREATE waited for the held break");
            var buffer = new byte[8];
            Assert.Equal(8, await stream.ReadAsync(buffer));
        }
        Assert.Equal(0, Volatile.Read(ref lost));
    }
}
