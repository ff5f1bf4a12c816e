using System.Buffers.Binary;
using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.Tests.Security;

public class SigningTests
{
    // Blog "the anatomy of signing and cryptographic keys", SMB 3.1.1 first channel: the final SESSION_SETUP
    // response, signed with AES-CMAC under SigningKey 73FE7A9A77BEF0BDE49C650D8CCB5F76.
    private const string SignedSessionSetupResponse =
        "FE534D4240000100000000000100800009000000000000000300000000000000FFFE000000000000" +
        "1900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A01" +
        "00A3120410010000003B453CDC3524164200000000";

    [Fact]
    public void Cmac_BlogSessionSetupResponse_Verifies()
    {
        var message = Hex.Bytes(SignedSessionSetupResponse);
        var original = (byte[])message.Clone();
        using var signer = Smb2Signer.Create(SigningAlgorithm.AesCmac, Hex.Bytes("73FE7A9A77BEF0BDE49C650D8CCB5F76"));
        Assert.True(signer.Verify(message));
        Assert.Equal(original, message);
    }

    [Fact]
    public void Cmac_BlogSessionSetupResponse_ReSignProducesSameSignature()
    {
        var message = Hex.Bytes(SignedSessionSetupResponse);
        using var signer = Smb2Signer.Create(SigningAlgorithm.AesCmac, Hex.Bytes("73FE7A9A77BEF0BDE49C650D8CCB5F76"));
        signer.Sign(message);
        Assert.Equal("EBE146DA120BA25FC3376A49DFE31BC1", Hex.Of(message.AsSpan(48, 16)));
    }

    [Theory]
    [InlineData(0)] // HMAC-SHA256
    [InlineData(1)] // AES-CMAC
    [InlineData(2)] // AES-GMAC
    public void Sign_ThenVerify_RoundTrips(int algorithmId)
    {
        var algorithm = (SigningAlgorithm)algorithmId;
        var message = MakeMessage(Smb2Command.Read, messageId: 42, response: false, bodyLength: 100);
        using var signer = Smb2Signer.Create(algorithm, TestKey);
        signer.Sign(message);
        Assert.True(Smb2Header.ReadFrom(message).IsSigned);
        Assert.False(message.AsSpan(48, 16).IndexOfAnyExcept((byte)0) < 0, "signature should not be all zero");
        var copy = (byte[])message.Clone();
        Assert.True(signer.Verify(message));
        Assert.Equal(copy, message);
    }

    [Theory]
    [InlineData(0)] // HMAC-SHA256
    [InlineData(1)] // AES-CMAC
    [InlineData(2)] // AES-GMAC
    public void Verify_TamperedBodyHeaderOrSignature_ReturnsFalse(int algorithmId)
    {
        var algorithm = (SigningAlgorithm)algorithmId;
        using var signer = Smb2Signer.Create(algorithm, TestKey);
        var signed = MakeMessage(Smb2Command.Write, messageId: 7, response: true, bodyLength: 33);
        signer.Sign(signed);
        foreach (var offset in new[] { 0x18 /* MessageId */, 48 /* signature */, 63, 64, signed.Length - 1 })
        {
            var tampered = (byte[])signed.Clone();
            tampered[offset] ^= 0x01;
            var before = (byte[])tampered.Clone();
            Assert.False(signer.Verify(tampered), $"tamper at {offset} went unnoticed");
            Assert.Equal(before, tampered);
        }
        using var otherKey = Smb2Signer.Create(algorithm, Enumerable.Repeat((byte)0x11, 16).ToArray());
        Assert.False(otherKey.Verify(signed));
    }

    [Fact]
    public void Verify_ShortMessage_ReturnsFalse()
    {
        using var signer = Smb2Signer.Create(SigningAlgorithm.AesCmac, TestKey);
        Assert.False(signer.Verify(new byte[40]));
    }

    [Fact]
    public void HmacSha256_Signature_IsTruncatedHmacOfZeroedMessage()
    {
        var message = MakeMessage(Smb2Command.Create, 3, false, 57);
        using var signer = Smb2Signer.Create(SigningAlgorithm.HmacSha256, TestKey);
        signer.Sign(message);
        var zeroed = (byte[])message.Clone();
        Array.Clear(zeroed, 48, 16);
        Assert.Equal(HMACSHA256.HashData(TestKey, zeroed).AsSpan(0, 16).ToArray(), message.AsSpan(48, 16).ToArray());
    }

    [Theory]
    [InlineData((ushort)Smb2Command.Read, false, 0u)]
    [InlineData((ushort)Smb2Command.Read, true, 1u)]
    [InlineData((ushort)Smb2Command.Cancel, false, 2u)]
    [InlineData((ushort)Smb2Command.Cancel, true, 1u)]
    public void Gmac_Signature_MatchesAesGcmWithSpecNonce(ushort commandCode, bool response, uint nonceBits)
    {
        var command = (Smb2Command)commandCode;
        const ulong messageId = 0x0102030405060708;
        var message = MakeMessage(command, messageId, response, 24);
        using var signer = Smb2Signer.Create(SigningAlgorithm.AesGmac, TestKey);
        signer.Sign(message);

        var zeroed = (byte[])message.Clone();
        Array.Clear(zeroed, 48, 16);
        var nonce = new byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, messageId);
        BinaryPrimitives.WriteUInt32LittleEndian(nonce.AsSpan(8), nonceBits);
        var tag = new byte[16];
        using (var gcm = new AesGcm(TestKey, 16))
        {
            gcm.Encrypt(nonce, Array.Empty<byte>(), Array.Empty<byte>(), tag, zeroed);
        }
        Assert.Equal(Hex.Of(tag), Hex.Of(message.AsSpan(48, 16)));
    }

    [Fact]
    public async Task Sign_ConcurrentSignAndVerify_StaysCorrect()
    {
        using var signer = Smb2Signer.Create(SigningAlgorithm.AesCmac, TestKey);
        var writer = Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var m = MakeMessage(Smb2Command.Write, (ulong)i, false, 200 + i % 50);
                signer.Sign(m);
                Assert.True(signer.Verify(m));
            }
        });
        var reader = Task.Run(() =>
        {
            var m = MakeMessage(Smb2Command.Read, 1, true, 5000);
            signer.Sign(m);
            for (var i = 0; i < 2000; i++)
            {
                Assert.True(signer.Verify(m));
            }
        });
        await Task.WhenAll(writer, reader);
    }

    [Fact]
    public void Create_UnknownAlgorithm_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Smb2Signer.Create((SigningAlgorithm)9, TestKey));
    }

    private static readonly byte[] TestKey = Hex.Bytes("000102030405060708090A0B0C0D0E0F");

    private static byte[] MakeMessage(Smb2Command command, ulong messageId, bool response, int bodyLength)
    {
        var message = new byte[Smb2Header.Size + bodyLength];
        var header = new Smb2Header
        {
            Command = command,
            MessageId = messageId,
            Flags = response ? Smb2HeaderFlags.ServerToRedir : Smb2HeaderFlags.None,
            SessionId = 0x100000000019,
            TreeId = 5,
            Credits = 1,
        };
        header.WriteTo(message);
        for (var i = Smb2Header.Size; i < message.Length; i++)
        {
            message[i] = (byte)(i * 7);
        }
        return message;
    }
}
