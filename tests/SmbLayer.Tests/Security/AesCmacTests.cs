using SmbLayer.Security;

namespace SmbLayer.Tests.Security;

public class AesCmacTests
{
    // RFC 4493 §4 test vectors.
    private static readonly byte[] Key = Hex.Bytes("2b7e151628aed2a6abf7158809cf4f3c");
    private static readonly byte[] Message64 = Hex.Bytes(
        "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51" +
        "30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710");

    [Theory]
    [InlineData(0, "bb1d6929e95937287fa37d129b756746")]
    [InlineData(16, "070a16b46b4d4144f79bdd9dd04a287c")]
    [InlineData(40, "dfa66747de9ae63030ca32611497c827")]
    [InlineData(64, "51f0bebf7e3b9d92fc49741779363cfe")]
    public void Cmac_Rfc4493Examples_Match(int length, string expected)
    {
        var mac = new byte[16];
        AesCmac.Compute(Key, Message64.AsSpan(0, length), mac);
        Assert.Equal(expected.ToUpperInvariant(), Hex.Of(mac));
    }

    [Fact]
    public void Cmac_Rfc4493Example2_Matches()
    {
        var mac = new byte[16];
        AesCmac.Compute(Key, Message64.AsSpan(0, 16), mac);
        Assert.Equal(Hex.Bytes("070a16b46b4d4144f79bdd9dd04a287c"), mac);
    }

    [Fact]
    public void Cmac_SplitIntoParts_EqualsWhole()
    {
        var rng = new Random(1234);
        var data = new byte[10000];
        rng.NextBytes(data);
        using var cmac = new AesCmac(Key);
        var whole = new byte[16];
        var parts = new byte[16];
        foreach (var length in new[] { 0, 1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097, 4112, 8193, 10000 })
        {
            var message = data.AsSpan(0, length);
            cmac.Compute(message, whole);
            for (var cut1 = 0; cut1 <= length; cut1 += Math.Max(1, length / 7))
            {
                var cut2 = Math.Min(length, cut1 + 13);
                cmac.Compute(message[..cut1], message[cut1..cut2], message[cut2..], parts);
                Assert.Equal(Hex.Of(whole), Hex.Of(parts));
            }
            // Against a fresh one-shot instance too.
            var oneShot = new byte[16];
            AesCmac.Compute(Key, message, oneShot);
            Assert.Equal(whole, oneShot);
        }
    }

    [Fact]
    public void Cmac_LargeMessage_MatchesBlockByBlockReference()
    {
        var rng = new Random(99);
        var data = new byte[5000 + 7];
        rng.NextBytes(data);
        var mac = new byte[16];
        AesCmac.Compute(Key, data, mac);
        Assert.Equal(ReferenceCmac(Key, data), mac);
    }

    [Fact]
    public void Cmac_BadKeyLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => new AesCmac(new byte[15]));
    }

    // Straight RFC 4493 §2.4, one EncryptEcb per block, written independently of the library's chunked CBC path.
    private static byte[] ReferenceCmac(byte[] key, byte[] m)
    {
        using var aes = System.Security.Cryptography.Aes.Create();
        aes.Key = key;
        byte[] Enc(byte[] b) => aes.EncryptEcb(b, System.Security.Cryptography.PaddingMode.None);
        byte[] Dbl(byte[] b)
        {
            var r = new byte[16];
            for (var i = 0; i < 16; i++)
            {
                r[i] = (byte)((b[i] << 1) | (i < 15 ? b[i + 1] >> 7 : 0));
            }
            if ((b[0] & 0x80) != 0)
            {
                r[15] ^= 0x87;
            }
            return r;
        }
        var k1 = Dbl(Enc(new byte[16]));
        var k2 = Dbl(k1);
        var n = Math.Max(1, (m.Length + 15) / 16);
        var complete = m.Length > 0 && m.Length % 16 == 0;
        var x = new byte[16];
        for (var i = 0; i < n - 1; i++)
        {
            var y = new byte[16];
            for (var j = 0; j < 16; j++)
            {
                y[j] = (byte)(x[j] ^ m[i * 16 + j]);
            }
            x = Enc(y);
        }
        var last = new byte[16];
        var rem = m.Length - (n - 1) * 16;
        Array.Copy(m, (n - 1) * 16, last, 0, rem);
        if (!complete)
        {
            last[rem] = 0x80;
        }
        var k = complete ? k1 : k2;
        for (var j = 0; j < 16; j++)
        {
            last[j] ^= (byte)(k[j] ^ x[j]);
        }
        return Enc(last);
    }
}
