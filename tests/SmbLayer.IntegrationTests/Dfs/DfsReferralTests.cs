using System.Globalization;
using SmbLayer.Protocol;
using SmbLayer.Protocol.Dfs;

namespace SmbLayer.IntegrationTests.Dfs;

/// <summary>
/// FSCTL_DFS_GET_REFERRALS against a Samba DFS root (profile <c>dfs</c>): the codec reads what Samba really answers, for
/// the root and for links with one and with two targets (issue 18; following referrals comes next).
/// </summary>
public sealed class DfsReferralTests(DfsSambaFixture fixture) : IClassFixture<DfsSambaFixture>
{
    private SambaServer Server => fixture.Server;

    private async Task<DfsReferralResponse> ReferralAsync(string path)
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });
        var ipc = SmbPath.Parse($"smb://127.0.0.1:{Server.Port.ToString(CultureInfo.InvariantCulture)}/IPC$");
        using var lease = await client.AcquireTreeAsync(ipc, default);
        var tree = lease.Tree;
        var request = new IoctlRequest(IoctlRequest.FsctlDfsGetReferrals, IoctlRequest.NoFile, DfsReferral.EncodeRequest(path), DfsReferral.MaxResponseSize);
        using var response = await tree.Connection.SendAsync(request, tree.Session.SignedContext(tree.TreeId, tree.EncryptData), default);
        Assert.True(response.Status == NtStatus.Success, $"FSCTL_DFS_GET_REFERRALS for {path}: {response.Status}");
        var ioctl = IoctlResponse.Parse(response.Message);
        return DfsReferral.ParseResponse(response.Message[ioctl.OutputRange]);
    }

    [SambaFact]
    public async Task LinkWithOneTarget_ReferralNamesIt()
    {
        var referral = await ReferralAsync(@"\127.0.0.1\dfsroot\link1\deeper\file.txt");
        var entry = Assert.Single(referral.Entries);
        Assert.InRange(entry.Version, 2, 4);
        Assert.Equal(DfsServerType.NonRoot, entry.ServerType);
        Assert.Equal(@"\127.0.0.22\share", entry.NetworkAddress, ignoreCase: true);
        Assert.True(entry.TimeToLive > 0);
        // What the referral covers: \127.0.0.1\dfsroot\link1, not the rest of the path.
        Assert.Equal(@"\127.0.0.1\dfsroot\link1".Length, referral.PathConsumedCharacters);
        Assert.EndsWith(@"\dfsroot\link1", entry.DfsPath, StringComparison.OrdinalIgnoreCase);
    }

    [SambaFact]
    public async Task LinkWithTwoTargets_InTheServersOrder()
    {
        var referral = await ReferralAsync(@"\127.0.0.1\dfsroot\link2");
        Assert.Equal([@"\127.0.0.23\share", @"\127.0.0.22\share\sub"], referral.Entries.Select(e => e.NetworkAddress), StringComparer.OrdinalIgnoreCase);
        Assert.All(referral.Entries, e => Assert.Equal(referral.Entries[0].Version, e.Version));
    }

    [SambaFact]
    public async Task Root_ReferralIsARootTarget()
    {
        var referral = await ReferralAsync(@"\127.0.0.1\dfsroot");
        Assert.NotEmpty(referral.Entries);
        Assert.Equal(DfsServerType.Root, referral.Entries[0].ServerType);
    }
}
