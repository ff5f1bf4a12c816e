using System.Buffers.Binary;
using System.Text;
using SmbLayer.Protocol;
using SmbLayer.Protocol.Dfs;

namespace SmbLayer.Tests.Protocol;

/// <summary>The MS-DFSC referral codec: Samba's real answer, and every size and offset checked against the buffer.</summary>
public class DfsReferralCodecTests
{
    private static byte[] SambaReferral()
    {
        var message = SambaCapture.Bytes(SambaCapture.DfsReferralLink2Hex);
        return message[IoctlResponse.Parse(message).OutputRange];
    }

    [Fact]
    public void SambaCapture_LinkWithTwoTargets()
    {
        var referral = DfsReferral.ParseResponse(SambaReferral());
        Assert.Equal([@"\127.0.0.23\share", @"\127.0.0.22\share\sub"], referral.Entries.Select(e => e.NetworkAddress), StringComparer.OrdinalIgnoreCase);
        Assert.All(referral.Entries, e => Assert.Equal(DfsServerType.NonRoot, e.ServerType));
        Assert.Equal(@"\127.0.0.1\dfsroot\link2".Length, referral.PathConsumedCharacters);
    }

    [Fact]
    public void Request_LevelAndNulTerminatedPath()
    {
        var request = DfsReferral.EncodeRequest(@"\h\root\link");
        Assert.Equal(4, BinaryPrimitives.ReadUInt16LittleEndian(request));
        Assert.Equal(@"\h\root\link" + "\0", Encoding.Unicode.GetString(request, 2, request.Length - 2));
    }

    /// <summary>A V4 entry with its strings after the entries; offsets count from the entry.</summary>
    private static byte[] V4(string dfsPath, string target, ushort flags = DfsReferral.TargetSetBoundary, uint ttl = 300)
    {
        var path = Encoding.Unicode.GetBytes(dfsPath + "\0");
        var address = Encoding.Unicode.GetBytes(target + "\0");
        var buffer = new byte[8 + 34 + path.Length + address.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)(dfsPath.Length * 2));
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(2), 1);
        var e = buffer.AsSpan(8);
        BinaryPrimitives.WriteUInt16LittleEndian(e, 4);
        BinaryPrimitives.WriteUInt16LittleEndian(e[2..], 34);
        BinaryPrimitives.WriteUInt16LittleEndian(e[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], ttl);
        BinaryPrimitives.WriteUInt16LittleEndian(e[12..], 34);
        BinaryPrimitives.WriteUInt16LittleEndian(e[14..], 34);
        BinaryPrimitives.WriteUInt16LittleEndian(e[16..], (ushort)(34 + path.Length));
        path.CopyTo(buffer, 8 + 34);
        address.CopyTo(buffer, 8 + 34 + path.Length);
        return buffer;
    }

    [Fact]
    public void V4_TargetSetBoundaryAndTtl()
    {
        var entry = Assert.Single(DfsReferral.ParseResponse(V4(@"\d\root\l", @"\s\share")).Entries);
        Assert.True(entry.StartsTargetSet);
        Assert.Equal(300u, entry.TimeToLive);
        Assert.Equal(@"\d\root\l", entry.DfsPath);
        Assert.Equal(@"\s\share", entry.NetworkAddress);
    }

    public static TheoryData<string, Action<byte[]>> Damage => new()
    {
        { "shorter than its 8-byte header", b => Array.Resize(ref b, 7) },
        { "has Size", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(10), 60000) },
        { "only 1 to 4 exist", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), 9) },
        { "NetworkAddress offset", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8 + 16), 60000) },
        { "not a whole number", b => BinaryPrimitives.WriteUInt16LittleEndian(b, 3) },
        { "entry 1", b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), 2) }, // a second entry where the strings are
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void Damaged_TypedErrorNamingWhat(string expected, Action<byte[]> damage)
    {
        var buffer = V4(@"\d\root\l", @"\s\share");
        damage(buffer);
        var input = expected.StartsWith("shorter", StringComparison.Ordinal) ? buffer[..7] : buffer;
        var error = Assert.Throws<SmbProtocolException>(() => DfsReferral.ParseResponse(input));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void StringWithoutNul_TypedError()
    {
        var buffer = V4(@"\d\root\l", @"\s\share");
        var cut = buffer[..^2]; // the target's NUL cut off
        var error = Assert.Throws<SmbProtocolException>(() => DfsReferral.ParseResponse(cut));
        Assert.Contains("no terminating NUL", error.Message);
    }

    [Fact]
    public void MixedVersions_TypedError()
    {
        var one = V4(@"\d\root\l", @"\s\share");
        var two = new byte[8 + (2 * (one.Length - 8))];
        one.CopyTo(two, 0);
        one.AsSpan(8).CopyTo(two.AsSpan(one.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(two.AsSpan(2), 2);
        // The second entry starts right after the first's 34 bytes: its version made 3.
        BinaryPrimitives.WriteUInt16LittleEndian(two.AsSpan(8 + 34), 3);
        var error = Assert.Throws<SmbProtocolException>(() => DfsReferral.ParseResponse(two));
        Assert.Contains("all must be alike", error.Message);
    }
}
