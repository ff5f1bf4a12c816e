using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer.IntegrationTests.Session;

/// <summary>Session-layer operations against Samba that the file API does not show directly.</summary>
[Collection(SambaCollections.Default)]
public sealed class SessionLayerTests(DefaultSambaFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private SambaServer Server => fixture.Server;

    private SmbClient NewClient() => new(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });

    private static string NewName(string stem) => $"{stem}-{Guid.NewGuid():N}";

    [SambaFact]
    public async Task Echo_IsAnswered()
    {
        await using var client = NewClient();
        using var lease = await client.AcquireTreeAsync(SmbPath.Parse(Server.Url()), default);
        await lease.Tree.Connection.EchoAsync(default).WaitAsync(Bound);
    }

    /// <summary>
    /// A closed handle's lease is kept for acknowledging only until the server answers its CLOSE: after that nothing can
    /// break it (each open's lease key is its own). Before, every closed leased open stayed until 1,024 newer ones pushed
    /// it out, with its whole CREATE request and response: the soak's 64 connections held 65,000 of them (about 50 MB).
    /// </summary>
    [SambaFact]
    public async Task ClosedDurableOpens_LeaseAnsweredByTheClose_NothingKeptForAcknowledging()
    {
        await using var client = NewClient();
        using var lease = await client.AcquireTreeAsync(SmbPath.Parse(Server.Url()), default);
        var breaks = lease.Tree.Breaks!;
        for (var i = 0; i < 20; i++)
        {
            var open = await lease.Tree.CreateAsync(new CreateRequest(NewName("lease") + ".bin")
            {
                DesiredAccess = AccessMask.GenericRead | AccessMask.GenericWrite,
                CreateDisposition = CreateDisposition.Create,
            }, lease.Call, HandleDurability.Durable, default);
            Assert.NotNull(open.LeaseKey); // a durable open on 3.1.1 asks for an RWH lease
            if (i % 2 == 0)
            {
                await open.CloseAsync(default);
            }
            else
            {
                await open.DisposeAsync(); // the let-go close (Dispose) answered too
            }
        }
        Assert.Equal(0, breaks.FormerLeaseCount);
        Assert.Empty(lease.Tree.Opens);
    }

    [SambaFact]
    public async Task QueryInfo_BasicStandardAll_MatchTheFile()
    {
        var name = NewName("qi") + ".bin";
        Server.WriteShareFile(name, new byte[12345]);
        await using var client = NewClient();
        using var lease = await client.AcquireTreeAsync(SmbPath.Parse(Server.Url()), default);
        await using var open = await lease.Tree.CreateAsync(new CreateRequest(name)
        {
            DesiredAccess = AccessMask.FileReadAttributes | AccessMask.FileReadData | AccessMask.Synchronize,
        }, lease.Call, HandleDurability.Plain, default);

        var basic = await open.QueryBasicAsync(default);
        var standard = await open.QueryStandardAsync(default);
        var all = await open.QueryAllAsync(default);

        Assert.Equal(12345, standard.EndOfFile);
        Assert.False(standard.Directory);
        Assert.Equal(standard.EndOfFile, all.Standard.EndOfFile);
        Assert.Equal(basic.LastWriteTime, all.Basic.LastWriteTime);
        var local = File.GetLastWriteTimeUtc(Server.LocalPath(name));
        Assert.InRange((FileTime.ToDateTimeOffset(basic.LastWriteTime).UtcDateTime - local).Duration(), TimeSpan.Zero, TimeSpan.FromSeconds(1));
        Assert.EndsWith(name, all.FileName, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task SetTimes_LastWriteTime_IsStored()
    {
        var name = NewName("times") + ".txt";
        Server.WriteShareFile(name, "x");
        await using var client = NewClient();
        var when = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);
        await client.SetTimesAsync(Server.Url(name), lastWriteTime: when);
        Assert.Equal(when.UtcDateTime, File.GetLastWriteTimeUtc(Server.LocalPath(name)));
        Assert.Equal(when, (await client.GetInfoAsync(Server.Url(name))).LastWriteTime);
    }

    [SambaFact]
    public async Task Stream_SetLength_TruncatesAndExtends()
    {
        var name = NewName("eof") + ".bin";
        await using var client = NewClient();
        await using (var s = await client.OpenWriteAsync(Server.Url(name)))
        {
            await s.WriteAsync(new byte[1000]);
            s.SetLength(300);
            Assert.Equal(300, s.Length);
        }
        Assert.Equal(300, new FileInfo(Server.LocalPath(name)).Length);
        await using (var s = await client.OpenWriteAsync(Server.Url(name), overwrite: true))
        {
            s.SetLength(5000);
        }
        Assert.Equal(5000, new FileInfo(Server.LocalPath(name)).Length);
    }

    [SambaFact]
    public async Task OplockBreak_DeliveredToCallback_AndAcknowledged()
    {
        var name = NewName("oplock") + ".txt";
        Server.WriteShareFile(name, "oplocked");
        await using var holder = NewClient();
        using var lease = await holder.AcquireTreeAsync(SmbPath.Parse(Server.Url()), default);
        var received = new TaskCompletionSource<BreakNotice>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Tree.Breaks!.Register(n => received.TrySetResult(n));
        await using var open = await lease.Tree.CreateAsync(new CreateRequest(name)
        {
            DesiredAccess = AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAccess.Read | ShareAccess.Write | ShareAccess.Delete,
            RequestedOplockLevel = OplockLevel.Batch,
        }, lease.Call, HandleDurability.Plain, default);
        Assert.Equal(OplockLevel.Batch, open.CreateResponse.OplockLevel);

        // A second client (its own connection) opening the file makes Samba break the batch oplock.
        await using var other = NewClient();
        var secondOpen = other.OpenReadAsync(Server.Url(name));
        var notice = await received.Task.WaitAsync(Bound);
        Assert.Same(open, notice.Open);
        Assert.Equal(open.FileId, notice.FileId);
        Assert.True(notice.NewOplockLevel is OplockLevel.LevelII or OplockLevel.None);
        await using (await secondOpen.WaitAsync(Bound))
        {
        }
        // The acknowledgment went out and the server answered it.
        var deadline = DateTime.UtcNow + Bound;
        while (open.LastBreakAcknowledgment is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Equal(NtStatus.Success, open.LastBreakAcknowledgment);
    }
}
