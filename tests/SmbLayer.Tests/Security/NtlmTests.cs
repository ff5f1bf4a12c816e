using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SmbLayer.Security;

namespace SmbLayer.Tests.Security;

public class NtlmTests
{
    // MS-NLMP §4.2.1 common values and §4.2.4 NTLMv2 vectors.
    private static readonly byte[] ServerChallenge = Hex.Bytes("0123456789abcdef");
    private static readonly byte[] ClientChallenge = Hex.Bytes("aaaaaaaaaaaaaaaa");
    private static readonly byte[] RandomSessionKey = Enumerable.Repeat((byte)0x55, 16).ToArray();
    private static readonly byte[] SpecTargetInfo = Hex.Bytes(
        "02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000");

    [Theory]
    [InlineData("", "31d6cfe0d16ae931b73c59d7e0c089c0")]
    [InlineData("a", "bde52cb31de33e46245e05fbdbd6fb24")]
    [InlineData("abc", "a448017aaf21d8525fc10ae87aa6729d")]
    [InlineData("message digest", "d9130a8164549fe818874806e1c7014b")]
    [InlineData("abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4")]
    [InlineData("12345678901234567890123456789012345678901234567890123456789012345678901234567890", "e33b4ddc9c38f2199c3e7b164fcc0536")]
    public void Md4_Rfc1320TestSuite_Matches(string input, string expected)
    {
        Assert.Equal(expected.ToUpperInvariant(), Hex.Of(Md4.HashData(Encoding.ASCII.GetBytes(input))));
    }

    [Fact]
    public void Md4_LengthsAroundBlockBoundary_DoNotThrowAndDiffer()
    {
        var seen = new HashSet<string>();
        for (var n = 50; n < 140; n++)
        {
            Assert.True(seen.Add(Hex.Of(Md4.HashData(new byte[n]))));
        }
    }

    [Fact]
    public void Rc4_KnownVector_Matches()
    {
        // Classic ARCFOUR vectors: Key "Key" / "Plaintext", Key "Wiki" / "pedia".
        Assert.Equal("BBF316E8D940AF0AD3", Hex.Of(Rc4.Transform("Key"u8, "Plaintext"u8)));
        Assert.Equal("1021BF0420", Hex.Of(Rc4.Transform("Wiki"u8, "pedia"u8)));
    }

    [Fact]
    public void Rc4_StreamContinuesAcrossCalls()
    {
        using var rc4 = new Rc4("Key"u8);
        var a = new byte[4];
        var b = new byte[5];
        rc4.Transform("Plai"u8, a);
        rc4.Transform("ntext"u8, b);
        Assert.Equal("BBF316E8D940AF0AD3", Hex.Of([.. a, .. b]));
    }

    [Fact]
    public void NtHash_SpecPassword_Matches()
    {
        Assert.Equal("A4F49C406510BDCAB6824EE7C30FD852", Hex.Of(NtlmCrypto.NtHash("Password")));
    }

    [Fact]
    public void Ntowfv2_MsNlmp4241_Matches()
    {
        var ntowf = NtlmCrypto.NtowfV2(NtlmCrypto.NtHash("Password"), "User", "Domain");
        Assert.Equal("0C868A403BFD7A93A3001EF22EF02E3F", Hex.Of(ntowf));
    }

    [Fact]
    public void NtlmV2Response_MsNlmp4242_Matches()
    {
        var key = Hex.Bytes("0c868a403bfd7a93a3001ef22ef02e3f");
        var temp = NtlmCrypto.BuildClientChallengeBlob(0, ClientChallenge, SpecTargetInfo);
        Assert.Equal(
            "0101000000000000" + "0000000000000000" + "AAAAAAAAAAAAAAAA" + "00000000" + Hex.Of(SpecTargetInfo) + "00000000",
            Hex.Of(temp));
        var proof = NtlmCrypto.NtProofStr(key, ServerChallenge, temp);
        Assert.Equal("68CD0AB851E51C96AABC927BEBEF6A1C", Hex.Of(proof));
        Assert.Equal("86C35097AC9CEC102554764A57CCCC19AAAAAAAAAAAAAAAA", Hex.Of(NtlmCrypto.LmV2Response(key, ServerChallenge, ClientChallenge)));
        var sessionBaseKey = NtlmCrypto.SessionBaseKey(key, proof);
        Assert.Equal("8DE40CCADBC14A82F15CB0AD0DE95CA3", Hex.Of(sessionBaseKey));
        // §4.2.4.2.3: encrypted session key = RC4(KeyExchangeKey = SessionBaseKey, RandomSessionKey).
        Assert.Equal("C5DAD2544FC9799094CE1CE90BC9D03E", Hex.Of(Rc4.Transform(sessionBaseKey, RandomSessionKey)));
    }

    [Fact]
    public void Client_MsNlmp424Inputs_ProducesSpecResponseAndEncryptedKey()
    {
        // A CHALLENGE like §4.2.4.3's: flags 0xe28a8233, target "Server", target info without a timestamp.
        var challenge = BuildChallenge(0xE28A8233, ServerChallenge, "Server", SpecTargetInfo);
        var randoms = new Queue<byte[]>([ClientChallenge, RandomSessionKey]);
        using var client = new NtlmClient("User", "Domain", "Password", "COMPUTER",
            fill => randoms.Dequeue().CopyTo(fill), () => 0);
        client.CreateNegotiate();
        var auth = client.CreateAuthenticate(challenge);

        var nt = Field(auth, 20);
        Assert.Equal("68CD0AB851E51C96AABC927BEBEF6A1C", Hex.Of(nt[..16]));
        Assert.Equal("86C35097AC9CEC102554764A57CCCC19AAAAAAAAAAAAAAAA", Hex.Of(Field(auth, 12)));
        Assert.Equal("C5DAD2544FC9799094CE1CE90BC9D03E", Hex.Of(Field(auth, 52)));
        Assert.Equal("Domain", Encoding.Unicode.GetString(Field(auth, 28)));
        Assert.Equal("User", Encoding.Unicode.GetString(Field(auth, 36)));
        Assert.Equal("COMPUTER", Encoding.Unicode.GetString(Field(auth, 44)));
        Assert.Equal(RandomSessionKey, client.ExportedSessionKey.ToArray());
        // No timestamp from the server: no MIC.
        Assert.Equal(new byte[16], auth.AsSpan(72, 16).ToArray());
    }

    [Fact]
    public void SignAndSealKeys_MsNlmp4244_Match()
    {
        var flags = NtlmNegotiateFlags.Negotiate128 | NtlmNegotiateFlags.ExtendedSessionSecurity;
        Assert.Equal("4788DC861B4782F35D43FD98FE1A2D39", Hex.Of(NtlmCrypto.SigningKey(RandomSessionKey, true)));
        Assert.Equal("59F600973CC4960A25480A7C196E4C58", Hex.Of(NtlmCrypto.SealingKey(RandomSessionKey, flags, true)));
    }

    [Fact]
    public void GssWrapEx_MsNlmp4244_ChecksumAndSealedChecksumMatch()
    {
        var plaintext = Encoding.Unicode.GetBytes("Plaintext");
        var signKey = NtlmCrypto.SigningKey(RandomSessionKey, true);
        var checksum = HMACMD5.HashData(signKey, (byte[])[0, 0, 0, 0, .. plaintext]).AsSpan(0, 8).ToArray();
        Assert.Equal("70352851F2564309", Hex.Of(checksum));

        // SEAL: the handle first encrypts the data, then continues onto the checksum.
        using var handle = new Rc4(NtlmCrypto.SealingKey(RandomSessionKey, NtlmNegotiateFlags.Negotiate128, true));
        var sealedData = new byte[plaintext.Length];
        handle.Transform(plaintext, sealedData);
        Assert.Equal("54E50165BF1936DC996020C1811B0F06FB5F", Hex.Of(sealedData));
        handle.Transform(checksum, checksum);
        Assert.Equal("7FB38EC5C55D4976", Hex.Of(checksum));
    }

    [Fact]
    public void SessionSecurity_GetMic_IsVersionSealedChecksumSeqNum()
    {
        var flags = NtlmNegotiateFlags.Negotiate128 | NtlmNegotiateFlags.ExtendedSessionSecurity | NtlmNegotiateFlags.KeyExchange;
        using var security = new NtlmSessionSecurity(RandomSessionKey, flags);
        var message = Encoding.Unicode.GetBytes("Plaintext");
        var signature = security.Sign(message);
        // Fresh handle: RC4(sealKey) of the checksum 70352851f2564309 from §4.2.4.4.
        var expectedChecksum = Rc4.Transform(Hex.Bytes("59f600973cc4960a25480a7c196e4c58"), Hex.Bytes("70352851f2564309"));
        Assert.Equal("01000000" + Hex.Of(expectedChecksum) + "00000000", Hex.Of(signature));
        var second = security.Sign(message);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(second.AsSpan(12)));
    }

    [Fact]
    public void ParseChallenge_Truncated_ThrowsProtocolException()
    {
        var challenge = BuildChallenge(0xE28A8215, ServerChallenge, "S", SpecTargetInfo);
        for (var n = 0; n < challenge.Length; n++)
        {
            var truncated = challenge.AsSpan(0, n).ToArray();
            Assert.Throws<SmbProtocolException>(() => NtlmMessages.ParseChallenge(truncated));
        }
    }

    [Theory]
    [InlineData(0, 0x41)] // signature
    [InlineData(8, 0x03)] // message type
    [InlineData(40, 0xFF)] // TargetInfo length beyond the message
    [InlineData(44, 0x70)] // TargetInfo offset beyond the message
    [InlineData(16, 0x7F)] // TargetName offset beyond the message
    public void ParseChallenge_CorruptField_ThrowsProtocolException(int offset, byte value)
    {
        var challenge = BuildChallenge(0xE28A8215, ServerChallenge, "S", SpecTargetInfo);
        challenge[offset] = value;
        Assert.Throws<SmbProtocolException>(() => NtlmMessages.ParseChallenge(challenge));
    }

    [Fact]
    public void ParseChallenge_AvPairWithoutEol_ThrowsProtocolException()
    {
        var info = Hex.Bytes("02000c0044006f006d00610069006e00");
        Assert.Throws<SmbProtocolException>(() => NtlmMessages.ParseChallenge(BuildChallenge(0xE28A8215, ServerChallenge, "S", info)));
        var overlong = Hex.Bytes("0200ff0044006f00 00000000");
        Assert.Throws<SmbProtocolException>(() => NtlmMessages.ParseChallenge(BuildChallenge(0xE28A8215, ServerChallenge, "S", overlong)));
        var badTimestamp = Hex.Bytes("0700040001020304 00000000");
        Assert.Throws<SmbProtocolException>(() => NtlmMessages.ParseChallenge(BuildChallenge(0xE28A8215, ServerChallenge, "S", badTimestamp)));
    }

    [Fact]
    public void Client_WithServerTimestamp_UsesItSetsMicFlagAndMic()
    {
        const long serverTime = 0x01D0AECBADF5A1A1;
        var info = Hex.Bytes("02000c0044006f006d00610069006e00 07000800A1A1F5ADCBAED001 00000000");
        var challenge = BuildChallenge(0xE28A8215, ServerChallenge, "Domain", info);
        var randoms = new Queue<byte[]>([ClientChallenge, RandomSessionKey]);
        using var client = new NtlmClient("User", "Domain", "Password", "WS", fill => randoms.Dequeue().CopyTo(fill), () => 42);
        var negotiate = client.CreateNegotiate();
        var auth = client.CreateAuthenticate(challenge);

        var nt = Field(auth, 20);
        Assert.Equal(serverTime, BinaryPrimitives.ReadInt64LittleEndian(nt.AsSpan(16 + 8)));
        // AV pairs: server's two, then MsvAvFlags = 2, then EOL, then Z(4).
        Assert.EndsWith("07000800A1A1F5ADCBAED001" + "0600040002000000" + "00000000" + "00000000", Hex.Of(nt));
        Assert.Equal(new byte[24], Field(auth, 12));

        var zeroMic = (byte[])auth.Clone();
        Array.Clear(zeroMic, 72, 16);
        var expectedMic = HMACMD5.HashData(RandomSessionKey, (byte[])[.. negotiate, .. challenge, .. zeroMic]);
        Assert.Equal(Hex.Of(expectedMic), Hex.Of(auth.AsSpan(72, 16)));
    }

    [Fact]
    public void Client_ExistingMsvAvFlags_GetsMicBitInPlace()
    {
        var info = Hex.Bytes("0600040001000000 07000800A1A1F5ADCBAED001 00000000");
        var pairs = NtlmMessages.BuildClientAvPairs(info, setMicFlag: true);
        Assert.Equal("0600040003000000" + "07000800A1A1F5ADCBAED001" + "00000000", Hex.Of(pairs));
    }

    [Fact]
    public void Client_Anonymous_SendsEmptyResponsesAndHasNoKey()
    {
        using var client = new NtlmClient("", "", "", "WS");
        client.CreateNegotiate();
        var auth = client.CreateAuthenticate(BuildChallenge(0xE28A8215, ServerChallenge, "S", SpecTargetInfo));
        Assert.True(client.IsAnonymous);
        Assert.Empty(Field(auth, 20));
        Assert.Equal(new byte[1], Field(auth, 12));
        Assert.Empty(Field(auth, 36));
        Assert.Empty(Field(auth, 52));
        Assert.True(client.ExportedSessionKey.IsEmpty);
        Assert.Null(client.Security);
        var flags = (NtlmNegotiateFlags)BinaryPrimitives.ReadUInt32LittleEndian(auth.AsSpan(60));
        Assert.True(flags.HasFlag(NtlmNegotiateFlags.Anonymous));
        Assert.False(flags.HasFlag(NtlmNegotiateFlags.KeyExchange));
    }

    [Fact]
    public void Client_ToString_HidesSecrets()
    {
        using var client = new NtlmClient("alice", "CORP", "S3cret!pw", "WS");
        var text = client.ToString();
        Assert.DoesNotContain("S3cret", text);
        Assert.Contains("alice", text);
    }

    // MS-NLMP §2.2.1.2 layout: header 48 bytes + Version 8, payload: target name, target info.
    internal static byte[] BuildChallenge(uint flags, byte[] serverChallenge, string targetName, byte[] targetInfo)
    {
        var name = Encoding.Unicode.GetBytes(targetName);
        var message = new byte[56 + name.Length + targetInfo.Length];
        "NTLMSSP\0"u8.CopyTo(message);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(12), (ushort)name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(14), (ushort)name.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(16), 56);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(20), flags);
        serverChallenge.CopyTo(message, 24);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(40), (ushort)targetInfo.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(42), (ushort)targetInfo.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(44), (uint)(56 + name.Length));
        name.CopyTo(message, 56);
        targetInfo.CopyTo(message, 56 + name.Length);
        return message;
    }

    internal static byte[] Field(byte[] message, int fieldsOffset)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(fieldsOffset));
        var offset = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(fieldsOffset + 4));
        return message.AsSpan(offset, length).ToArray();
    }
}
