using SmbLayer.IntegrationTests.Faults;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Transport;

namespace SmbLayer.IntegrationTests.Security;

/// <summary>
/// Break notifications on a session that encrypts (Samba, <c>server smb encrypt = required</c>, 3.1.1). Samba 4.17 sends
/// oplock breaks in plaintext there (SessionId of the open's session in the header), and lease breaks too (they name no session, MS-SMB2
/// §3.3.4.7): both must still be delivered and acknowledged. What plaintext breaks injected by someone on the path can
/// make the client do is bounded (docs/SECURITY.md, "Break notifications").
/// </summary>
[Collection(SambaCollections.EncryptionRequired)]
public sealed class EncryptedBreakTests(EncryptionRequiredSambaFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private SambaServer Server => fixture.Server;

    private SmbClient NewClient() => new(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });

    private static CreateRequest OpenForWrite(string name, OplockLevel oplock = OplockLevel.None) => new(name)
    {
        DesiredAccess = AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileReadAttributes | AccessMask.Synchronize,
        ShareAccess = ShareAccess.Read | ShareAccess.Write | ShareAccess.Delete,
        RequestedOplockLevel = oplock,
    };

    private static async Task<NtStatus?> AcknowledgmentOfAsync(SmbOpen open)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (open.LastBreakAcknowledgment is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        return open.LastBreakAcknowledgment;
    }

    [SambaFact]
    public async Task OplockBreak_PlaintextFromSamba_OnEncryptedSession_DeliveredAndAcknowledged()
    {
        var name = $"enc-oplock-{Guid.NewGuid():N}.txt";
        Server.WriteShareFile(name, "oplocked");
        await using var holder = NewClient();
        using var lease = await holder.AcquireTreeAsync(SmbPath.Parse(Server.Url()), default);
        Assert.NotNull(lease.Tree.Context.Transform);
        var received = new TaskCompletionSource<BreakNotice>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Tree.Breaks!.Register(n => received.TrySetResult(n));
        await using var open = await lease.Tree.CreateAsync(OpenForWrite(name, OplockLevel.Batch), lease.Call, HandleDurability.Plain, default);
        Assert.Equal(OplockLevel.Batch, open.CreateResponse.OplockLevel);

        await using var other = NewClient();
        var secondOpen = other.OpenReadAsync(Server.Url(name));
        var notice = await received.Task.WaitAsync(Bound);
        Assert.Same(open, notice.Open);
        await using (await secondOpen.WaitAsync(Bound))
        {
        }
        Assert.Equal(NtStatus.Success, await AcknowledgmentOfAsync(open));
    }

    [SambaFact]
    public async Task LeaseBreak_PlaintextFromSamba_OnEncryptedSession_StillAcknowledged()
    {
        var name = $"enc-lease-{Guid.NewGuid():N}.txt";
        Server.WriteShareFile(name, "leased");
        await using var holder = NewClient();
        using var lease = await holder.AcquireTreeAsync(SmbPath.Parse(Server.Url()), default);
        var received = new TaskCompletionSource<BreakNotice>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Tree.Breaks!.Register(n => received.TrySetResult(n));
        // A durable open on 3.1.1 asks for an RWH lease (OpenDurability).
        await using var open = await lease.Tree.CreateAsync(OpenForWrite(name), lease.Call, HandleDurability.Durable, default);
        Assert.NotNull(open.LeaseKey);

        // A second client's open makes Samba break the write caching (RWH → RH), acknowledgment required.
        await using var other = NewClient();
        var secondOpen = other.OpenReadAsync(Server.Url(name));
        var notice = await received.Task.WaitAsync(Bound);
        await using (await secondOpen.WaitAsync(Bound))
        {
        }
        Assert.Same(open, notice.Open);
        Assert.Equal(open.LeaseKey, notice.LeaseKey);
        Assert.Equal(NtStatus.Success, await AcknowledgmentOfAsync(open));
    }

    /// <summary>
    /// Someone on the path floods the holder with plaintext oplock breaks for its handle (as Samba's own come in plaintext
    /// too, they cannot be told apart and are taken): the client keeps one acknowledgment in flight per handle, so 200
    /// forged breaks cost a few requests, not 200. Samba's own break afterwards is still delivered and acknowledged.
    /// </summary>
    [SambaFact]
    public async Task OplockBreaks_InjectedInPlaintext_AtMostOneAcknowledgmentInFlight_ThenSambasOwnAcknowledged()
    {
        const int Injected = 200;
        var name = $"enc-inject-{Guid.NewGuid():N}.txt";
        Server.WriteShareFile(name, "oplocked");
        await using var proxy = NegotiateRewritingProxy.Start(Server.Port, _ => { });
        await using var holder = NewClient();
        using var lease = await holder.AcquireTreeAsync(SmbPath.Parse($"smb://127.0.0.1:{proxy.Port}/share"), default);
        var notices = 0;
        lease.Tree.Breaks!.Register(_ => Interlocked.Increment(ref notices));
        await using var open = await lease.Tree.CreateAsync(OpenForWrite(name, OplockLevel.Batch), lease.Call, HandleDurability.Plain, default);
        Assert.Equal(OplockLevel.Batch, open.CreateResponse.OplockLevel);
        var connection = Assert.Single(proxy.Connections);
        var sentBefore = connection.ClientCommands.Count;

        // Plaintext oplock breaks for the open (MessageId 0xFFFFFFFFFFFFFFFF, §2.2.23.1), back to back.
        var injected = new byte[Smb2Header.Size + OplockBreak.AcknowledgmentSize];
        new Smb2Header { Command = Smb2Command.OplockBreak, Flags = Smb2HeaderFlags.ServerToRedir, MessageId = ulong.MaxValue }.WriteTo(injected);
        OplockBreak.WriteAcknowledgment(injected.AsSpan(Smb2Header.Size), OplockLevel.LevelII, open.FileId);
        for (var i = 0; i < Injected; i++)
        {
            await connection.InjectToClientAsync(injected);
        }
        var deadline = DateTime.UtcNow + Bound;
        while (Volatile.Read(ref notices) < Injected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Equal(Injected, Volatile.Read(ref notices));
        await Task.Delay(1000); // acknowledgments still to go would go now
        var acknowledgments = connection.ClientCommands.Count - sentBefore;
        Assert.InRange(acknowledgments, 1, 20);
        Assert.Equal(ConnectionState.Ready, lease.Tree.Connection.State);

        // The twin: Samba's own break is delivered and acknowledged.
        var received = new TaskCompletionSource<BreakNotice>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Tree.Breaks.Register(n => received.TrySetResult(n));
        await using var other = NewClient();
        var secondOpen = other.OpenReadAsync(Server.Url(name));
        Assert.Same(open, (await received.Task.WaitAsync(Bound)).Open);
        await using (await secondOpen.WaitAsync(Bound))
        {
        }
        var acknowledged = DateTime.UtcNow + Bound;
        while (open.LastBreakAcknowledgment != NtStatus.Success && DateTime.UtcNow < acknowledged)
        {
            await Task.Delay(20);
        }
        Assert.Equal(NtStatus.Success, open.LastBreakAcknowledgment);
    }
}
